"""Table 1 (top left) of Wu et al. (2016) at the paper's learning rate: Adam 1e-4, r in {0.02, 0.6}.

The same runs as table1_init_scale.py (`--paper-learning-rate`): does the
learning rate explain whether MI-RNN is more robust to the scale of W?

    .venv/bin/python -m examples.paper.table1_paper_lr [--seeds 3] [--dataset data/kjv]
"""

from examples.paper import table1_init_scale

NAME = table1_init_scale.PAPER_LR_NAME


def judge(runs):
    return table1_init_scale.judge(runs, paper_learning_rate=True)


def main(argv=None):
    return table1_init_scale.main(argv, paper_learning_rate=True)


if __name__ == "__main__":
    main()
