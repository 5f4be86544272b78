import sys

from keras_mi_command import main

sys.exit(main())
