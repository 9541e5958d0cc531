#!/bin/sh
# One screen of the slice classifier (bundles/liver_slice_cls/docs/README.md, "Does the classifier look at the
# lesions?"): train E's recipe (liver ROI, the liver alone with a 5 mm rim, 2.5D, Grad-CAM++ layer3) with the
# given overrides, then read it as E3 (no rim, CAMs inside the liver) on a held-out phantom set and say whether
# both floors of issue 14 hold (balanced accuracy above 0.80, tumor CAM IoU per slice at least 0.14).
#
#   scripts/screen_slice_cls.sh WORK TRAIN_DIR EVAL_DIR SEED [key=value ...]
#   e.g. scripts/screen_slice_cls.sh bench_out/screen_g bench_out/roi72/phantoms_twins \
#            bench_out/cls_heldout16/phantoms 0 max_epochs=12 learning_rate=0.001
#
# A rerun resumes training from WORK's newest checkpoint; READ_ONLY=1 reads WORK/models/model_final.pt without
# training. Logs and readings go under WORK.
cd "$(dirname "$0")/.." || exit 1
[ $# -ge 4 ] || { echo "usage: $0 WORK TRAIN_DIR EVAL_DIR SEED [key=value ...]"; exit 2; }
WORK=$1; TRAIN=$2; EVAL=$3; SEED=$4; shift 4
for kv in "$@"; do
    case $kv in
        [a-z]*=*) ;;
        *) echo "$0: '$kv' is not a key=value setting of train.json"; exit 2 ;;
    esac
done
PY=${PY:-.venv/bin/python}
C=bundles/liver_slice_cls/configs
E="image_size=128 context=3 liver_roi=True mask_outside_liver=True cam_method=gradcam++ cam_layer=layer3 val_fraction=0.17 split_seed=0 learning_rate=0.0003 max_epochs=18 early_stop_patience=100 progress_bar=False"
mkdir -p "$WORK"
run() {  # config list, then extra overrides
    files=$1; shift
    $PY -m monai.bundle run --config_file "$files" --meta_file $C/metadata.json --bundle_root "$WORK" \
        --seed "$SEED" --dataset_dir "$TRAIN" --eval_dataset_dir "$EVAL" \
        $(for kv in $SETTINGS; do printf -- '--%s %s ' "${kv%%=*}" "${kv#*=}"; done) "$@"
}
OVERRIDES="$*"
# E's settings with the screen's own pairs replacing those of the same key
SETTINGS=$(printf '%s\n' $E $OVERRIDES | awk -F= '{ if (!($1 in v)) k[++n] = $1; v[$1] = $0 }
    END { for (i = 1; i <= n; i++) print v[k[i]] }')
echo "screen $WORK: $OVERRIDES (seed $SEED) started $(date -u)"
if [ "${READ_ONLY:-0}" = 1 ]; then  # read the checkpoint already in WORK/models (e.g. on a judge set)
    [ -f "$WORK/models/model_final.pt" ] || { echo "READ_ONLY: no $WORK/models/model_final.pt"; exit 1; }
else
    run "['$C/train.json']" > "$WORK/train.log" 2>&1 || { echo "training failed: $WORK/train.log"; exit 1; }
    echo "trained $(date -u)"
fi
run "['$C/train.json','$C/evaluate.json']" --liver_mask_margin_mm 0 --output_dir "$WORK/eval/test_read0" \
    > "$WORK/read_test.log" 2>&1 || { echo "evaluation failed: $WORK/read_test.log"; exit 1; }
run "['$C/train.json','$C/evaluate_cam.json']" --liver_mask_margin_mm 0 --cam_inside_liver True \
    --output_dir "$WORK/eval/cam_read0_inside" > "$WORK/read_cam.log" 2>&1 \
    || { echo "CAM evaluation failed: $WORK/read_cam.log"; exit 1; }
echo "read $(date -u)"
$PY - "$WORK" <<'PY'
import json, sys
root = sys.argv[1] + "/eval/"
ba = json.load(open(root + "test_read0/classification_report.json"))["balanced_accuracy"]
rows = json.load(open(root + "cam_read0_inside/cam_summary.json"))["summary"]
cam = next(r["iou"] for r in rows if r["structure"] == "tumor" and r["protocol"] == "slice")
print(f"{sys.argv[1]}: balanced accuracy {ba:.3f}, tumor CAM IoU per slice (inside the liver) {cam:.3f}:",
      "both floors hold" if ba > 0.80 and cam >= 0.14 else "below a floor")
PY
