"""Push: subscriptions the residents accepted, the transactional outbox and its worker."""
