"""What only runs on a laptop (`make run` and the tests): stand-ins for the DynamoDB stream
event sources and the schedules AWS runs around the functions, the demo data and the local
HTTP server. It lives outside `chalicelib/`, so `chalice package` never ships it."""
