# -*- test-case-name: tests.tool -*-
"""
C{cocaine-tool}, the operator's command line: deploy apps, manage profiles,
runlists, routing groups, crashlogs and keys, call any service and watch
the node, all over the native protocol (L{cocaine.tool.cli}).
"""
