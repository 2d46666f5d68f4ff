"""The admin trail: an append-only record of what admins did (contest settlements, binding
moves), written by the areas whose use cases make those moves."""
