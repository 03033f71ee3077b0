"""
The node's metrics: one Prometheus registry every component adds its
collectors to, the 0.12 C{metrics} service and the C{/metrics} page.
"""
