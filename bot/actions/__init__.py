"""Teacher actions: one module each, plain async Python below the Bot Framework edge."""
