"""PyTorch forward+backward of the elementwise losses it has no function for (pinball, Gamma,
Tweedie): autograd of the written formula, 1e7 float32, one thread. The comparison figures of
docs/benchmark-figures.md ("The elementwise losses at 1e7"). Run: python bench/torch_formula_losses.py"""
import time, numpy as np, torch
torch.set_num_threads(1)
rng = np.random.default_rng(0)
n = 10**7
x = torch.from_numpy(rng.standard_normal(n, dtype=np.float32))
raw = torch.from_numpy((rng.standard_normal(n) * 0.5).astype(np.float32))
t = torch.from_numpy(rng.lognormal(0, 0.5, n).astype(np.float32))
q = 0.5; p = 1.5
forms = {
 "pinball_loss": (x, lambda a: (q * torch.clamp(t - a, min=0) + (1 - q) * torch.clamp(a - t, min=0)).mean()),
 "gamma_loss": (raw, lambda a: (a + t * torch.exp(-a)).mean()),
 "tweedie_loss": (raw, lambda a: (torch.exp((2 - p) * a) / (2 - p) - t * torch.exp((1 - p) * a) / (1 - p)).mean()),
}
for name, (base, f) in forms.items():
    ts = []
    for i in range(7):
        leaf = base.detach().requires_grad_(True)
        a = time.perf_counter(); v = f(leaf); v.backward(); ts.append(time.perf_counter() - a)
    ts.sort(); print(name, "torch formula fwd+bwd 1 thread median %.1f ms" % (ts[3] * 1e3))
