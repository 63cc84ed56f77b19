"""The ready-made factory's pipeline, shortened for tests that check something else than the
guest suite's and the cycles' own counts: one guest test and one cycle still show that both
test layers ran (and ran over the transport under test), at a fraction of a build's time."""

SHORT = {"guest_tests": ["memory"], "cycles": 1}
