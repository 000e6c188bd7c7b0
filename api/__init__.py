"""The HTTP adapter: translates requests into use cases and view queries; holds no business rules.

Build the application with `api.app.create_app(settings)`; nothing is constructed at import time.
"""
