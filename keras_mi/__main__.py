import sys

from keras_mi.cli import main

sys.exit(main())
