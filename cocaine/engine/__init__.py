"""
The app engine: manifests and profiles, archives, sessions, workers, the
engine per app, the app service and the node service.
"""
