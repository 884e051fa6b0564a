"""The notifier: lifecycle events become messages to the people behind each step.

``consumer`` reads the events topic and records notification rows (``planner``: ``rules`` ×
``audience`` × ``templates``, held for working hours by ``schedule``); ``dispatcher`` sends the
rows that are due by their ``channels`` (e-mail, signed webhooks, the SMS gateway) with
retries, a ``breaker`` per endpoint and dead-lettering; ``process`` runs it all as
``tierflow notifier``.
"""
