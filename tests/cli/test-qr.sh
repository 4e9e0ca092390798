#!/bin/bash
# SPDX-License-Identifier: ISC
# test-qr.sh - `issue --qr` draws a QR code that a real decoder reads back
# as the token: the drawing is turned into a picture and given to zbarimg.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
QR2PBM=$(cd "$BUILD" && pwd)/tests/qr2pbm

qr_decodes_to_the_token()
{
    pt issue alice --qr >token 2>drawing
    "$QR2PBM" 4 <drawing >qr.pbm
    zbarimg --quiet --raw qr.pbm >decoded
    [ "$(cat decoded)" = "$(cat token)" ]
    [ "$(wc -l <token)" -eq 1 ]
}

qr_keeps_stdout_to_the_token_alone()
{
    pt issue alice --qr --json >out 2>drawing
    "$JSONQ" token <out >token
    "$QR2PBM" 4 <drawing >qr.pbm
    [ "$(zbarimg --quiet --raw qr.pbm)" = "$(cat token)" ]
}

for i in 1 2 3 4 5; do
    t "qr code of an issued token decodes to it (#$i)" qr_decodes_to_the_token
done
t "qr with --json: stdout is the JSON, the drawing decodes" qr_keeps_stdout_to_the_token_alone
done_testing
