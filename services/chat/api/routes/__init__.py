"""One module per route group; `app.create_app` includes their routers."""
