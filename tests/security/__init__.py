"""
Issue 14's findings, each written as the attack that now fails
(bounded, loopback only).
"""
