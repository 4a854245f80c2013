#!/bin/bash
# Controlled short runs behind 30_camvid's finding on the explicit model: same recipe as the shipped models (ASPP 6/12/18,
# scale range 0.5-2, lr 0.01, heads 10x, frozen encoder BatchNorm, seed 0: the same data order for every run) on 192x256
# crops, so that one run takes minutes on 2 CPU threads. Run from the repository root with ../shared beside it:
#   bash nbs/camvid_runs/explicit_diag/train.sh short   # 150 iterations: single, explicit, explicit at lr/4, explicit heads 1x
#   bash nbs/camvid_runs/explicit_diag/train.sh long    # 400 iterations: explicit, single, explicit at lr/4
# then python nbs/camvid_runs/explicit_diag/evaluate.py RUN... (val mIoU with training and re-estimated BatchNorm statistics).
# The 192x256 crops leave the rate-12/18 ASPP taps partly unseen (the warning says so); every run shares that handicap.
set -e
common="--dataset camvid --root ../shared/data/camvid --encoder mobilenet_v2 --weights ../shared/weights/mobilenet_v2_imagenet.pth
  --crop-size 192 256 --scale-range 0.5 2.0 --atrous-rates 6 12 18 --batch-size 4 --lr 0.01 --head-lr-mult 10 --freeze-bn
  --val-every 100 --workers 0 --seed 0 --decoder-channels 192 --head-channels 128 --no-progress"
run() { name=$1; shift; [ -f runs/explicit_diag/$name/done ] && return 0; mkdir -p runs/explicit_diag/$name
  OMP_NUM_THREADS=2 scaleattn train $common "$@" --out runs/explicit_diag/$name > runs/explicit_diag/$name/log.txt 2>&1
  touch runs/explicit_diag/$name/done; }
case "$1" in
  short) s="--iters 150 --warmup-iters 20"
         run single $s --method single
         run explicit $s --method explicit --attention-channels 256
         run explicit_lr4 $s --method explicit --attention-channels 256 --lr 0.0025
         run explicit_h1 $s --method explicit --attention-channels 256 --head-lr-mult 1 ;;
  long)  s="--iters 400 --warmup-iters 50"
         run explicit400 $s --method explicit --attention-channels 256
         run single400 $s --method single
         run explicit400_lr4 $s --method explicit --attention-channels 256 --lr 0.0025 ;;
  *) echo "usage: $0 short|long" >&2; exit 2 ;;
esac
