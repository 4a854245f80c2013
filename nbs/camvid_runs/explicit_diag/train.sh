#!/bin/bash
# Controlled short runs behind 30_camvid's finding on the explicit model: same recipe as the shipped models (ASPP 6/12/18,
# scale range 0.5-2, lr 0.01, heads 10x, frozen encoder BatchNorm, seed 0: the same data order for every run) on 192x256
# crops, so that one run takes minutes on 2 CPU threads. Run from the repository root with ../shared beside it:
#   bash nbs/camvid_runs/explicit_diag/train.sh short   # 150 iterations: single, explicit, explicit at lr/4, explicit heads 1x
#   bash nbs/camvid_runs/explicit_diag/train.sh long    # 400 iterations: explicit, single, explicit at lr/4
#   bash nbs/camvid_runs/explicit_diag/train.sh ablate  # 400 iterations: explicit without extra supervision, average pooling
#                                                       # on the same scales
#   bash nbs/camvid_runs/explicit_diag/train.sh chen    # 400 iterations at Chen et al.'s learning rate (0.001, classifier 0.01)
#                                                       # instead of 0.01: single, explicit, hierarchical, explicit without
#                                                       # extra supervision, explicit at a quarter of it (0.00025)
#   bash nbs/camvid_runs/explicit_diag/train.sh watch   # single scale at lr 0.01 and 0.001, batch 4 (150 iterations) and
#                                                       # batch 16 (40): the logs' deep_dead every 10 iterations
#   bash nbs/camvid_runs/explicit_diag/train.sh watch16 # explicit with extra supervision at the GPU grids' batch 16 and lr
#                                                       # 0.001 (40 iterations): does the larger batch keep the layer alive?
# Runs are claimed one at a time (mkdir), so two workers on 2 cores share a mode without clashing:
#   OMP_NUM_THREADS=1 bash .../train.sh ablate & OMP_NUM_THREADS=1 bash .../train.sh ablate &
# An interrupted run resumes from its last.pt when the mode is started again (remove runs/explicit_diag/NAME/claim first).
# then python nbs/camvid_runs/explicit_diag/evaluate.py RUN... (val mIoU with training and re-estimated BatchNorm statistics).
# The 192x256 crops leave the rate-12/18 ASPP taps partly unseen (the warning says so); every run shares that handicap.
set -e
common="--dataset camvid --root ../shared/data/camvid --encoder mobilenet_v2 --weights ../shared/weights/mobilenet_v2_imagenet.pth
  --crop-size 192 256 --scale-range 0.5 2.0 --atrous-rates 6 12 18 --batch-size 4 --lr 0.01 --head-lr-mult 10 --freeze-bn
  --val-every 100 --workers 0 --seed 0 --decoder-channels 192 --head-channels 128 --no-progress"
run() { name=$1; shift; d=runs/explicit_diag/$name; [ -f $d/done ] && return 0; mkdir -p $d
  mkdir $d/claim 2>/dev/null || return 0                            # another worker has it
  resume=; [ -f $d/last.pt ] && resume=--resume
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} scaleattn train $common "$@" $resume --out $d >> $d/log.txt 2>&1
  touch $d/done; }
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
  ablate) s="--iters 400 --warmup-iters 50 --checkpoint-every 50"
         run explicit400_noes $s --method explicit --attention-channels 256 --scale-weight 0
         run average400 $s --method average ;;
  chen)  s="--iters 400 --warmup-iters 50 --checkpoint-every 50 --lr 0.001"
         run explicit400_chen $s --method explicit --attention-channels 256
         run single400_chen $s --method single
         run hierarchical400_chen $s --method hierarchical
         run explicit400_noes_chen $s --method explicit --attention-channels 256 --scale-weight 0
         run explicit400_chen_lr4 $s --method explicit --attention-channels 256 --lr 0.00025 --val-split none ;;
  watch) s="--iters 150 --warmup-iters 20 --val-split none"; b="--iters 40 --warmup-iters 20 --val-split none --batch-size 16"
         run single_watch $s --method single
         run single_watch_chen $s --method single --lr 0.001
         run single_b16_watch $b --method single
         run single_b16_watch_chen $b --method single --lr 0.001 ;;
  watch16) b="--iters 40 --warmup-iters 20 --val-split none --batch-size 16 --lr 0.001 --method explicit --attention-channels 256"
         run explicit_b16_watch_chen $b ;;
  *) echo "usage: $0 short|long|ablate|chen|watch|watch16" >&2; exit 2 ;;
esac
