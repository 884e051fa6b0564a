"""Developer tooling of tierflow, kept out of the runtime wheel and the production image."""
