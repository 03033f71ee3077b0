"""
Small services 0.12 clients and health checks call: echo and uniresis.
"""
