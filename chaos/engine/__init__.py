"""The run engine: typed events, the I/O-free run state machine and the asyncio driver."""
