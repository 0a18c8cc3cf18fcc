"""Analytics, pure: the catalogue of metrics and dimensions, the query's validation, its
window and buckets in a time zone, and the answer's shape. The SQL is store/analytics.py;
the entry point web/ and the dashboard call is service/analytics.py's ``run``."""
