"""The v1 REST wire of seeds 000 and 001, under /api/v1/auth: `{"error": ...}` failures in Turkish."""
