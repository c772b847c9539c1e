"""The reference apps the service is compared with. Each serves the service's routes and JSON shapes on the
table the service's migrations create, and is started with uvicorn, one worker, on 127.0.0.1."""
