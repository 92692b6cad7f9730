"""``GET /api/v1/app/config``: what the mini-programs set themselves up from."""
