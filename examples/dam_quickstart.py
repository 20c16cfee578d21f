import jax.random as jr

import hopdyn as hd

K, D = 100, 30  # seed 000: 100 patterns of 30 pixels
Xi = jr.uniform(jr.PRNGKey(55), (K, D))
net = hd.Network(
    neurons={
        "v": hd.Neuron(D, hd.Sigmoid(beta=1 / (2 * D))),  # visible layer
        "m": hd.Neuron(K, hd.Softmax(beta=1.0)),
    },  # memory layer
    synapses=[hd.Dense(("m", "v"), Xi)],  # E_S = -mhat^T Xi vhat
)
x0 = {"v": jr.uniform(jr.PRNGKey(3), (D,)), "m": jr.normal(jr.PRNGKey(4), (K,))}
traj = hd.simulate(net, x0).truncated()  # auto picks the solver, stops at the steady state
for t, E in list(zip(traj.ts, traj.energy))[::25]:
    print(f"t = {float(t):9.4f}   E = {float(E):.4f}")
print(traj.status_name, f"at t = {float(traj.t_final):.1f}; the energy never rose:", bool(traj.dEdt.max() <= 0))
