"""
The urlfetch service: Cocaine 0.12's URL fetch protocol on Twisted's
HTTP client.
"""
