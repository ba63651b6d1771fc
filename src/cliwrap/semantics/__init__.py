"""What a request means beyond plain chat, sans I/O: the prompt contract and answer filters."""
