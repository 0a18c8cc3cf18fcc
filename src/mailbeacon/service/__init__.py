"""Use cases: what the APIs, the SMTP relay and the CLI ask of mailbeacon, orchestrating the
pure core and the store. Each function takes its collaborators as arguments."""
