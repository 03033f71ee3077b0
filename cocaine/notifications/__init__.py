"""
The notifications service: publish/subscribe on named channels,
node-local or over Redis.
"""
