#!/usr/bin/env python3
"""Writes data/sample.txt: simple synthetic "tiny stories" English for the training example.

A small seeded grammar (characters, places, objects, feelings, a handful of plot types with
dialogue) produces short stories separated by blank lines. Deterministic: the same arguments
always give the same bytes. Python 3 standard library only.

    python3 scripts/make_sample_text.py                 # data/sample.txt, ~450 KB
    python3 scripts/make_sample_text.py --size-kb 100 --seed 7 --out /tmp/small.txt
"""
import argparse
import os
import random

GIRLS = ["Lily", "Mia", "Anna", "Zoe", "Emma", "Sue", "Lucy", "Ella", "Amy", "Rose"]
BOYS = ["Tom", "Ben", "Sam", "Max", "Leo", "Tim", "Jack", "Finn", "Joe", "Ned"]
ANIMALS = [("dog", "Spot"), ("cat", "Kitty"), ("bird", "Tweety"), ("rabbit", "Hop"),
           ("duck", "Quack"), ("frog", "Jumpy"), ("bear", "Fuzzy"), ("fox", "Red")]
PLACES = ["the park", "the garden", "the beach", "the forest", "the farm", "the lake",
          "the big hill", "the playground", "the market", "the zoo"]
OBJECTS = [("ball", "red"), ("kite", "blue"), ("box", "big"), ("stone", "shiny"),
           ("hat", "yellow"), ("car", "toy"), ("book", "old"), ("cup", "green"),
           ("boat", "little"), ("drum", "loud"), ("flower", "pink"), ("key", "gold")]
FOODS = ["an apple", "a cake", "some bread", "a cookie", "some soup", "a banana", "some milk"]
WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "cloudy"]
GOOD = ["happy", "glad", "proud", "excited"]
BAD = ["sad", "scared", "angry", "tired", "lonely"]
HELPERS = ["mom", "dad", "grandma", "grandpa", "teacher", "big sister", "big brother"]
HIDE = ["under the tree", "behind the bench", "in the tall grass", "near the water",
        "under a big leaf", "inside an old box", "next to the fence"]
PLAY = ["ran and jumped", "played tag", "sang a song", "danced in the sun",
        "built a little house", "drew pictures", "looked at the clouds"]
LESSONS = ["it is good to help others", "sharing makes everyone happy",
           "being brave is not so hard", "friends make every day better",
           "it is important to say sorry", "you should always be kind"]


class Person:
    def __init__(self, rng):
        if rng.random() < 0.5:
            self.name, self.he, self.him, self.his, self.kind = rng.choice(GIRLS), "she", "her", "her", "girl"
        else:
            self.name, self.he, self.him, self.his, self.kind = rng.choice(BOYS), "he", "him", "his", "boy"


def cap(s):
    return s[0].upper() + s[1:]


def opening(rng, p, place):
    w = rng.choice(WEATHER)
    return rng.choice([
        f"Once upon a time, there was a little {p.kind} named {p.name}.",
        f"One {w} day, {p.name} went to {place}.",
        f"There once was a {rng.choice(['kind', 'curious', 'small', 'happy'])} {p.kind} named {p.name}.",
        f"{p.name} was a little {p.kind} who loved to play.",
    ]) + " " + rng.choice([
        f"It was a {w} day.",
        f"{cap(p.he)} lived in a small house near {place}.",
        f"{cap(p.he)} liked to go to {place} every day.",
        f"{cap(p.his)} {rng.choice(HELPERS)} always said, \"Be good and have fun.\"",
    ])


def lost_item(rng, p, place):
    obj, adj = rng.choice(OBJECTS)
    where = rng.choice(HIDE)
    helper = rng.choice(HELPERS)
    s = [f"{p.name} had a {adj} {obj}. {cap(p.he)} loved it very much.",
         f"One day, {p.name} went to {place} with the {obj}. {cap(p.he)} {rng.choice(PLAY)}.",
         f"When it was time to go home, the {obj} was gone! {p.name} felt {rng.choice(BAD)}.",
         f"\"Where is my {obj}?\" {p.he} asked."]
    if rng.random() < 0.5:
        s.append(f"{cap(p.his)} {helper} said, \"Let us look for it together.\"")
        s.append(f"They looked and looked. At last, they found the {obj} {where}.")
    else:
        kind, pet = rng.choice(ANIMALS)
        s.append(f"A little {kind} named {pet} came to help. \"I saw it {where},\" said {pet}.")
        s.append(f"{p.name} looked {where} and found the {obj}. \"Thank you, {pet}!\" {p.he} said.")
    s.append(f"{p.name} was very {rng.choice(GOOD)}. {cap(p.he)} held the {obj} tight all the way home.")
    return s


def sharing(rng, p, place):
    q = Person(rng)
    while q.name == p.name:
        q = Person(rng)
    food = rng.choice(FOODS)
    s = [f"{p.name} had {food}. {cap(p.he)} was about to eat it.",
         f"Then {p.he} saw {q.name}. {q.name} looked {rng.choice(['hungry', 'sad', 'lonely'])}.",
         f"\"Do you want some?\" {p.name} asked.",
         f"\"Yes, please!\" said {q.name}. \"Thank you!\"",
         f"{p.name} gave half to {q.name}. They ate together at {place}."]
    s.append(rng.choice([
        f"After that, they {rng.choice(PLAY)} until the sun went down.",
        f"{q.name} smiled. \"You are my best friend,\" {q.he} said.",
        f"It tasted better when they shared it.",
    ]))
    return s


def brave(rng, p, place):
    thing = rng.choice(["the dark", "the big dog", "the loud thunder", "the deep water",
                        "the tall slide", "the old tree"])
    helper = rng.choice(HELPERS)
    s = [f"{p.name} was scared of {thing}.",
         f"One day, {p.he} went to {place} with {p.his} {helper}.",
         f"\"I do not want to go,\" {p.name} said. \"I am scared.\"",
         f"{cap(p.his)} {helper} said, \"It is okay to be scared. I am here with you.\"",
         f"{p.name} took a deep breath. {cap(p.he)} was brave and tried."]
    s.append(rng.choice([
        f"It was not so bad after all! {p.name} laughed and felt {rng.choice(GOOD)}.",
        f"Soon {p.he} was not scared anymore. \"That was fun!\" {p.he} said.",
    ]))
    return s


def animal_friend(rng, p, place):
    kind, pet = rng.choice(ANIMALS)
    problem = rng.choice(["was stuck in a hole", "could not find its home", "had a hurt leg",
                          "was very hungry", "was cold and wet"])
    s = [f"At {place}, {p.name} saw a little {kind}. The {kind} {problem}.",
         f"\"Can I help you?\" {p.name} asked.",
         f"\"Yes, please,\" said the {kind}. \"My name is {pet}.\""]
    s.append(rng.choice([
        f"{p.name} helped {pet} very gently. Soon {pet} was fine.",
        f"{p.name} gave {pet} some food and a warm place to sleep.",
        f"{p.name} carried {pet} home to {rng.choice(PLACES)}.",
    ]))
    s.append(f"\"Thank you, {p.name}!\" said {pet}. \"You are very kind.\"")
    s.append(f"From that day on, {p.name} and {pet} were best friends.")
    return s


def build(rng, p, place):
    what = rng.choice(["a sand castle", "a tower of blocks", "a little boat", "a snowman",
                       "a house for the cat", "a big kite"])
    s = [f"{p.name} wanted to make {what}.",
         f"{cap(p.he)} worked very hard at {place}.",
         rng.choice([f"But the wind blew and it fell down.", f"But it broke, and {p.name} felt {rng.choice(BAD)}."]),
         f"\"I will try again,\" {p.name} said.",
         f"This time {p.he} was careful. {cap(p.he)} made it strong and tall.",
         f"When it was done, {p.name} was so {rng.choice(GOOD)}. \"Look what I made!\" {p.he} said."]
    return s


PLOTS = [lost_item, sharing, brave, animal_friend, build]


def story(rng):
    p = Person(rng)
    place = rng.choice(PLACES)
    lines = [opening(rng, p, place)] + rng.choice(PLOTS)(rng, p, place)
    if rng.random() < 0.5:
        lines.append(f"{p.name} learned that {rng.choice(LESSONS)}.")
    else:
        lines.append(rng.choice(["The end.", f"That night, {p.name} slept with a big smile.",
                                 f"It was the best day ever."]))
    return " ".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "sample.txt"))
    ap.add_argument("--size-kb", type=int, default=450)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    parts, total = [], 0
    while total < a.size_kb * 1000:
        s = story(rng)
        parts.append(s)
        total += len(s) + 2
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n\n".join(parts) + "\n")
    print(f"wrote {a.out}: {len(parts)} stories, {total} bytes")


if __name__ == "__main__":
    main()
