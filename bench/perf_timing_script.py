import sys, os, time, importlib, numpy as np
fl = importlib.import_module(os.environ.get("FLMOD","fusedloss"))
CLK = time.process_time if os.environ.get("CPUTIME") else time.perf_counter
def med(fn, n):
    fn(); ts=[]
    for _ in range(n):
        t=CLK(); fn(); ts.append(CLK()-t)
    ts.sort(); return ts[len(ts)//2]*1e3, ts[0]*1e3
rng=np.random.default_rng(0)
which = sys.argv[1] if len(sys.argv)>1 else "all"
thr = int(sys.argv[2]) if len(sys.argv)>2 else None
cases=[]
for loss, shapes in [("softmax_cross_entropy",[(65536,10),(4096,1000),(256,32000),(32,128000)]),("multiclass_hinge",[(65536,10),(4096,1000)]),("mean_squared_error",[(10_000_000,)])]:
    if which!="all" and which not in loss: continue
    for s in shapes:
        if loss=="mean_squared_error":
            x=rng.standard_normal(s,dtype=np.float32); y=rng.standard_normal(s,dtype=np.float32)
        else:
            x=rng.standard_normal(s,dtype=np.float32); y=rng.integers(0,s[1],s[0])
        f=getattr(fl,loss); o=np.empty_like(x)
        n = 30 if x.size>=1e6 else 200
        m,b=med(lambda: f(x,y,return_grad=True,threads=thr), n)
        if os.environ.get("NOCOPY"): print(f"{loss[:12]:12s} {str(s):14s} fused med {m:7.3f} min {b:7.3f}", flush=True); continue
        c,cb=med(lambda: np.copyto(o,x), n)
        print(f"{loss[:12]:12s} {str(s):14s} fused med {m:7.3f} min {b:7.3f}  copy med {c:6.3f} min {cb:6.3f}", flush=True)
