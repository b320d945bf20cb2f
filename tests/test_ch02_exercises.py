"""Chapter 2's exercise checks catch the plausible wrong answers and accept valid variants.

Each check cell of the instructor edition (hidden cases included) runs on a candidate answer
after the chapter's setup and parameters cells (tests/exercise_harness.py), as the grader would
run it, without any training. A wrong answer must fail with the exercise's hint; a valid
variant must pass. When a student finds a wrong answer that passes, it joins WRONG
(book/instructors.md).
"""

import exercise_harness as harness
from exercise_harness import block

CHAPTER = harness.Chapter("02_conditional_gan")

LABEL = '''
class LabelConcat(nn.Module):
    def __init__(self, num_classes, embed_dim):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
{extra}
    def forward(self, z, y):
        return {body}
'''
ACCURACY = '''
def conditioned_accuracy(predicted, requested, num_classes=10):
{body}
'''
CHANNEL = '''
def with_label_channel(x, y, embedding):
    return {body}
'''

# exercise -> {label: answer}; each must fail ("NOT YET RIGHT") and show its hint
WRONG = {
    "1 · label embedding": {
        "ignores the label": LABEL.format(extra="", body="torch.cat([z, torch.zeros(len(z), self.embed.embedding_dim)], dim=1)"),
        "one-hot, no embedding": LABEL.format(extra="", body="torch.cat([z, F.one_hot(y, self.embed.num_embeddings).float()], dim=1)"),
        "the embedding before z": LABEL.format(extra="", body="torch.cat([self.embed(y), z], dim=1)"),
        "calls the course's reference": LABEL.format(extra="        self.inner = gh.reference.LabelConcat(num_classes, embed_dim)",
                                                     body="self.inner(z, y)"),
        "subclasses the course's reference": "class LabelConcat(gh.reference.LabelConcat):\n    pass\n",
    },
    "2 · conditioned accuracy": {
        "hard-coded for the visible case": ACCURACY.format(body="    return 4 / 6, torch.tensor([0.5, 0.5, 1.0])"),
        "calls gh.conditioned_accuracy": ACCURACY.format(body=block("""
            overall, per_class = gh.conditioned_accuracy(predicted.numpy(), requested.numpy(), num_classes)
            return overall, torch.tensor(per_class)
        """)),
        "overall as the mean of the classes": ACCURACY.format(body=block("""
            hits = (predicted == requested).float()
            per_class = torch.stack([hits[requested == k].mean() for k in range(num_classes)])
            return per_class.mean().item(), per_class
        """)),
        "per class by the label read, not requested": ACCURACY.format(body=block("""
            hits = (predicted == requested).float()
            return hits.mean().item(), torch.stack([hits[predicted == k].mean() for k in range(num_classes)])
        """)),
    },
    "3 · label channel": {
        "label channel first": CHANNEL.format(body="torch.cat([embedding(y).view(-1, 1, 28, 28), x], dim=1)"),
        "a detached table": CHANNEL.format(body="torch.cat([x, embedding.weight[y].detach().view(-1, 1, 28, 28)], dim=1)"),
        "the map transposed": CHANNEL.format(body="torch.cat([x, embedding(y).view(-1, 1, 28, 28).transpose(2, 3)], dim=1)"),
        "stacked along the batch": CHANNEL.format(body="torch.cat([x, embedding(y).view(-1, 1, 28, 28)], dim=0)"),
    },
}

# exercise -> {label: answer}; each must pass
VALID = {
    "1 · label embedding": {
        "an embedding plus a LayerNorm": LABEL.format(extra="        self.norm = nn.LayerNorm(embed_dim)",
                                                      body="torch.cat([z, self.norm(self.embed(y))], dim=1)"),
    },
    "2 · conditioned accuracy": {
        "numpy": ACCURACY.format(body=block("""
            p, r = np.asarray(predicted), np.asarray(requested)
            return float((p == r).mean()), np.array([(p[r == k] == k).mean() for k in range(num_classes)])
        """)),
        "bincount": ACCURACY.format(body=block("""
            hits = torch.bincount(requested[predicted == requested], minlength=num_classes)
            totals = torch.bincount(requested, minlength=num_classes)
            return hits.sum().item() / len(requested), hits / totals
        """)),
    },
    "3 · label channel": {
        "reshape": CHANNEL.format(body="torch.cat([x, embedding(y).reshape(len(y), 1, 28, 28)], 1)"),
        "stack": CHANNEL.format(body="torch.stack([x[:, 0], embedding(y).unflatten(1, (28, 28))], dim=1)"),
    },
}

globals().update(harness.standard_tests(CHAPTER, WRONG, {}, VALID))
