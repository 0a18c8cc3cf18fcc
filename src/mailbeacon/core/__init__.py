"""mailbeacon's pure domain: no I/O, no clock, no settings object. Everything here takes data
and returns data; the service's adapters (store, web, smtp, workers) call into it."""
