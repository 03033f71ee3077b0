# -*- test-case-name: tests.health.test_services -*-
"""
Cocaine 0.12's C{echo} and C{uniresis} services: C{echo.ping(text)}
answers the text; C{uniresis} answers this machine's CPU count, its
memory in bytes (both as 0.12 counts them: every hardware thread, all
physical memory, each lowered by the service's C{restrictions}) and the
node's uuid.
"""

import os

from zope.interface import implementer

from cocaine.interfaces import IRPCService
from cocaine.protocol.health import (
    ECHO, ECHO_VERSION, UNIRESIS, UNIRESIS_VERSION)


@implementer(IRPCService)
class EchoService:
    """
    C{ping(message) -> [message]}.
    """

    protocol = ECHO
    version = ECHO_VERSION

    def ping(self, message):
        """
        @return: C{(message,)}.
        """
        return (message,)


def machineResources():
    """
    @return: C{(cpus, memory bytes)} of this machine: hardware threads
        and physical memory, as 0.12's C{std::thread::hardware_concurrency}
        and C{sysconf} count them (0 when unknown).
    """
    cpus = os.cpu_count() or 0
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        memory = 0
    return cpus, max(memory, 0)


@implementer(IRPCService)
class UniresisService:
    """
    C{cpu_count}, C{memory_count} and C{uuid}, fixed when built.

    @ivar cpus: the CPU count it answers.
    @ivar memory: the memory byte count it answers.
    @ivar uuid: the node's uuid.
    """

    protocol = UNIRESIS
    version = UNIRESIS_VERSION

    def __init__(self, uuid, cpus, memory):
        self.uuid = uuid
        self.cpus = cpus
        self.memory = memory

    @classmethod
    def restricted(cls, uuid, cpu=None, mem=None, resources=None):
        """
        The service for this machine, its figures lowered to C{cpu} and
        C{mem} when given (0.12's C{restrictions}).

        @param resources: C{(cpus, memory)}; L{machineResources} by
            default.
        @raise ValueError: the machine's figures cannot be read.
        """
        cpus, memory = resources or machineResources()
        if not cpus:
            raise ValueError("failed to calculate total CPU count")
        if not memory:
            raise ValueError("failed to calculate the total system memory")
        if cpu is not None:
            cpus = min(cpus, cpu)
        if mem is not None:
            memory = min(memory, mem)
        return cls(uuid, cpus, memory)

    def cpuCount(self):
        """
        @return: C{(cpus,)}.
        """
        return (self.cpus,)

    def memoryCount(self):
        """
        @return: C{(memory bytes,)}.
        """
        return (self.memory,)

    def getUuid(self):
        """
        @return: C{(the node's uuid,)}.
        """
        return (self.uuid,)
