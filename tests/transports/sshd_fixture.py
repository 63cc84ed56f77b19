"""The throwaway OpenSSH server the transport tests use (lives in buildbot_vkckpt.demo.sshd,
which the demo shares)."""
from buildbot_vkckpt.demo.sshd import (INSTALL_HINT, SSHDMissing, SSHServer, find_sshd,
                                       free_port, keygen)

__all__ = ["INSTALL_HINT", "SSHDMissing", "SSHServer", "find_sshd", "free_port", "keygen"]
