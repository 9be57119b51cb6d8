#!/bin/bash
# Closure of `calocoffea corrections` (docs/corrections.md): generate two independent Z->ee
# data-like/MC pairs, derive the scale & smearing on pair A, apply them to pair B, print
# the per-category data-vs-MC pulls of mu_CB and sigma_CB before and after.
# Usage: scripts/corrections_closure.sh OUTDIR [EVENTS (default 60000)]
set -euo pipefail
out=${1:?usage: $0 OUTDIR [EVENTS]}; n=${2:-60000}
mkdir -p "$out"; cd "$out"
cc="python -m calocoffea"
run="--processor zee --calibrations bdt --executor iterative --chunksize 20000 --no-progress"
mk() { echo "{\"$1\": {\"files\": {\"$PWD/$2\": \"Events\"}, \"metadata\": {\"kind\": \"$1\"}}}" > "$3"; }
for spec in "A mc 9411" "A data 9412" "B mc 9421" "B data 9422"; do
  set -- $spec
  prof=(); [ "$2" = mc ] && prof=(--mu-profile data)
  [ -f "$1_$2.root" ] || $cc generate --process zee --kind "$2" --events "$n" --seed "$3" \
      "${prof[@]}" --out "$1_$2.root" --no-progress > /dev/null
  mk "$2" "$1_$2.root" "$1_$2.json"
done
$cc run A_data.json $run --out A_data.hist.zip
$cc run A_mc.json $run --out A_mc_raw.hist.zip
$cc pileup --data A_data.hist.zip --mc A_mc_raw.hist.zip --out pileup.json
$cc run A_mc.json $run --pileup pileup.json --out A_mc.hist.zip
$cc run B_data.json $run --out B_data.hist.zip
$cc run B_mc.json $run --pileup pileup.json --out B_mc.hist.zip
for x in A_data A_mc B_data B_mc; do $cc fit $x.hist.zip --out $x.fit.json --no-mu-fits --no-progress; done
$cc corrections --mc A_mc.fit.json --data A_data.fit.json --out egm.json
correction summary egm.json > egm_summary.txt
$cc run B_data.json $run --corrections egm.json --out B_data_corr.hist.zip
$cc run B_mc.json $run --pileup pileup.json --corrections egm.json --out B_mc_corr.hist.zip
for x in B_data_corr B_mc_corr; do $cc fit $x.hist.zip --out $x.fit.json --no-mu-fits --no-progress; done
$cc compare --data B_data_corr.hist.zip --mc B_mc_corr.hist.zip --out figs_after > /dev/null
python - <<'PY'
import json
import numpy as np
from calocoffea.corrections import closure_table, derive
L = lambda x: json.load(open(f"{x}.fit.json"))
ss = derive(L("A_mc"), L("A_data"), "bdt")
for tag, dn, mn, corr in (("before", "B_data", "B_mc", None), ("after", "B_data_corr", "B_mc_corr", ss)):
    t = closure_table(L(dn), L(mn), corr, "bdt")
    json.dump(t, open(f"closure_{tag}.json", "w"), indent=1)
    print(f"== {tag}: {len(t)} categories with both fits accepted")
    for r in t:
        m, s = r["mu"], r["sigma"]
        print(f"  {tuple(r['pair'])}: mu {m['data']:+.3f}±{m['data_error']:.3f} vs {m['mc']:+.3f}±{m['mc_error']:.3f} "
              f"(corr ±{m['correction_error']:.3f}) pull {m['pull']:+.2f} | sigma {s['data']:.3f}±{s['data_error']:.3f} vs "
              f"{s['mc']:.3f}±{s['mc_error']:.3f} (corr ±{s['correction_error']:.3f}) pull {s['pull']:+.2f}")
    for p in ("mu", "sigma"):
        a = np.array([r[p]["pull"] for r in t])
        print(f"  {p}: sum pull^2 {np.sum(a**2):.1f} / {a.size}, max |pull| {np.max(abs(a)):.2f}")
PY
