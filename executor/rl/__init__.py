"""Learned scheduling on the executor side: the Keras policy network (`network`), REINFORCE training over
`simulator.rl.env.SchedulingEnv` (`train`), agent directories (`agent_dir`) and held-out comparisons with
classic policies (`evaluate`). Running a trained agent needs none of this: `simulator.rl.policy` reads the
directory and runs the network in NumPy as the `rl` policy."""
