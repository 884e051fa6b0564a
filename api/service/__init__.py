"""The API's operations, called by the HTTP routes (``api/routes``) and the console alike.

Each function takes the app context and the authenticated principal, applies RBAC, object
scope and validation, and raises ``HTTPException`` with the status and detail both callers
show. Neither caller reaches into the other.
"""
