"""buildbot-vkckpt: DragonFly BSD vkernel checkpoint testing as a Buildbot plugin."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "buildbot_vkckpt" / "__init__.py").read_text()).group(1)

# Every step is registered so that `from buildbot.plugins import steps; steps.BuildWorld` works.
STEPS = {
    "BuildPlan": "buildbot_vkckpt.steps.plan:BuildPlan",
    "RecordStage": "buildbot_vkckpt.steps.plan:RecordStage",
    "BuildWorld": "buildbot_vkckpt.steps.build:BuildWorld",
    "BuildKernel": "buildbot_vkckpt.steps.build:BuildKernel",
    "CleanupStaleSessions": "buildbot_vkckpt.steps.vkernel:CleanupStaleSessions",
    "VkernelPreflight": "buildbot_vkckpt.steps.vkernel:VkernelPreflight",
    "MakeRootImage": "buildbot_vkckpt.steps.vkernel:MakeRootImage",
    "BootVkernel": "buildbot_vkckpt.steps.vkernel:BootVkernel",
    "RunInVkernel": "buildbot_vkckpt.steps.vkernel:RunInVkernel",
    "ShutdownVkernel": "buildbot_vkckpt.steps.vkernel:ShutdownVkernel",
    "CollectArtifacts": "buildbot_vkckpt.steps.vkernel:CollectArtifacts",
    "GuestCheckpointSuite": "buildbot_vkckpt.steps.suite:GuestCheckpointSuite",
    "VkernelCheckpointCycle": "buildbot_vkckpt.steps.cycle:VkernelCheckpointCycle",
}
# `from buildbot.plugins import util; util.VkernelCheckpointFactory, util.SSHTransport,
# util.WorkerTransport`
UTIL = {
    "VkernelCheckpointFactory": "buildbot_vkckpt.factory:VkernelCheckpointFactory",
    "vkckpt_host_locks": "buildbot_vkckpt.factory:host_locks",
    "SSHTransport": "buildbot_vkckpt.transports:SSHTransport",
    "WorkerTransport": "buildbot_vkckpt.transports:WorkerTransport",
}

setup(
    name="buildbot-vkckpt",
    version=VERSION,
    description="Buildbot plugin that builds DragonFly BSD, boots a vkernel and tests checkpoint/restore",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.9",
    packages=find_packages(include=["buildbot_vkckpt", "buildbot_vkckpt.*"]),
    include_package_data=True,
    package_data={"buildbot_vkckpt": ["suite/*", "suite/*/*", "www/*"]},
    install_requires=[
        "buildbot>=4.3,<4.4",
        "buildbot-www>=4.3,<4.4",
        # the project's page in the web UI (buildbot_vkckpt.www)
        "buildbot-wsgi-dashboards>=4.3,<4.4",
        "twisted",
        "paramiko>=3",
        "pyelftools>=0.29",
    ],
    extras_require={
        "test": ["pytest", "pytest-timeout", "hypothesis",
                 "pytest-xdist",  # make test / test-fast run the tests on several workers
                 "aiosmtpd",  # a real SMTP server on 127.0.0.1 for tests/notify
                 "selenium",  # tests/browser drive Debian's chromium through chromedriver
                 ],
        "docs": ["sphinx"],
        # only `vkckpt demo` and the tests start a worker of their own
        "demo": ["buildbot-worker>=4.3,<4.4"],
    },
    entry_points={
        "console_scripts": ["vkckpt = buildbot_vkckpt.cli:main"],
        "buildbot.steps": [f"{name} = {target}" for name, target in STEPS.items()],
        "buildbot.util": [f"{name} = {target}" for name, target in UTIL.items()],
    },
    classifiers=[
        "Framework :: Twisted",
        "Operating System :: POSIX :: BSD",
        "Programming Language :: Python :: 3",
        "Topic :: Software Development :: Testing",
    ],
)
