"""The envelope REST wire of seed 003, under /api/auth: `{success, message, data, ...}` answers in Turkish."""
