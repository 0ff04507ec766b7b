#!/bin/bash
# make-water.sh DIR: a small GROMACS input made from GROMACS's own files, so the
# image can run `gmx_mpi mdrun` without a download: a 3 nm box of SPC/E water
# (about 900 molecules), 100 steps of 2 fs. `mdrun -nsteps N` shortens it further.
set -euo pipefail
dir=${1:?usage: make-water.sh DIR}
gmx=/opt/hpc/local/gromacs/bin/gmx_mpi
mkdir -p "$dir" && cd "$dir"
cat > topol.top <<'TOP'
#include "oplsaa.ff/forcefield.itp"
#include "oplsaa.ff/spce.itp"

[ system ]
water

[ molecules ]
TOP
"$gmx" solvate -cs spc216.gro -box 3 3 3 -o water.gro -p topol.top
cat > md.mdp <<'MDP'
integrator = md
dt = 0.002
nsteps = 100
cutoff-scheme = Verlet
coulombtype = PME
rcoulomb = 1.0
rvdw = 1.0
tcoupl = v-rescale
tc-grps = System
tau-t = 0.1
ref-t = 300
constraints = h-bonds
nstxout-compressed = 0
nstlog = 50
nstenergy = 50
MDP
"$gmx" grompp -f md.mdp -c water.gro -p topol.top -o water.tpr -maxwarn 1
rm -f mdout.mdp ./\#*
