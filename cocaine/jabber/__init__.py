"""
The jabber service: an XMPP client on Twisted Words.
"""
