"""A message's life after sending: new destinations for its links (destinations), and an
address erased from what is kept (scrub)."""
