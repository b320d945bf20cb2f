"""Student editions and grading.

The grading tests use a small synthetic chapter written here (add, mul, neg, with a hidden case),
and grade submissions that cheat, break or stall in the ways an instructor meets. Each grading
starts a kernel (a few seconds); the real chapters are only read, never executed, here.
"""

import ast
import subprocess
import sys

import nbformat
import pytest

import book
import coursework
import editions
import grading

CHAPTERS = book.chapter_notebooks()
NEW = nbformat.v4


def exercise_count(notebook) -> int:
    return sum(c.source.count("gh.exercise(") for c in notebook.cells if c.cell_type == "code")


# --- student editions -----------------------------------------------------------------------


def test_strip_keeps_indentation_and_signature():
    source = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n'
    stripped = editions.strip_solutions(source)
    assert stripped == 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n'
    namespace = {}
    exec(stripped, namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1)


def test_untagged_markers_are_refused():
    notebook = NEW.new_notebook(cells=[NEW.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    with pytest.raises(ValueError, match="no 'solution' tag"):
        editions.student_edition(notebook)


def test_hidden_tests_are_stripped_and_must_leave_valid_code():
    check = ('with gh.exercise("1 · f", hint="h"):\n    gh.expect(f(1) == 2, "f(1)")\n'
             '    ### BEGIN HIDDEN TESTS\n    gh.expect(f(5) == 6, "f(5)")\n    ### END HIDDEN TESTS\n')
    student = editions.student_edition(NEW.new_notebook(cells=[NEW.new_code_cell(check)]))
    assert student.cells[0].source == ('with gh.exercise("1 · f", hint="h"):\n    gh.expect(f(1) == 2, "f(1)")\n'
                                       "    # (hidden tests: more cases are checked when the notebook is graded)\n")
    only_hidden = 'with gh.exercise("1 · f", hint="h"):\n    ### BEGIN HIDDEN TESTS\n    pass\n    ### END HIDDEN TESTS\n'
    with pytest.raises(ValueError, match="keep at least one visible statement"):
        editions.student_edition(NEW.new_notebook(cells=[NEW.new_code_cell(only_hidden)]))
    with pytest.raises(ValueError, match="no gh.exercise"):
        editions.student_edition(NEW.new_notebook(cells=[NEW.new_code_cell("### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS")]))


def test_exercise_names_and_points_are_read_without_running():
    source = 'with gh.exercise("1 · D\'s loss", hint="h", points=2):\n    pass\nwith exercise("2 · x", "h"):\n    pass\n'
    assert editions.check_exercises(source) == [("1 · D's loss", 2), ("2 · x", 1)]
    with pytest.raises(ValueError, match="whole number"):
        editions.check_exercises('with gh.exercise("1", hint="h", points=POINTS):\n    pass\n')
    with pytest.raises(ValueError, match="plain string"):
        editions.check_exercises('with gh.exercise(NAME, hint="h"):\n    pass\n')


def test_student_path_needs_only_nbformat(tmp_path):
    """`make student` must work without torch, nbclient or the course's package."""
    code = ("import sys; sys.path.insert(0, 'tools'); import coursework; "
            f"sys.argv = ['coursework.py', 'student', 'notebooks', {str(tmp_path)!r}]; coursework.main(); "
            "heavy = {'torch', 'nbclient', 'gan_helpers', 'grading'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=book.ROOT, capture_output=True)
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in CHAPTERS]


def tool_imports(path) -> set[str]:
    """The other tools/ modules that ``path`` imports, at its top or inside a function."""
    tools = {p.stem for p in (book.ROOT / "tools").glob("*.py")}
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names & tools - {path.stem}


def test_the_tools_import_each_other_without_a_cycle():
    """editions.py (the student editions) is what grading.py reads check cells with; the command
    line (coursework.py) sits above both, so nothing runs back up."""
    graph = {path.stem: tool_imports(path) for path in (book.ROOT / "tools").glob("*.py")}
    assert graph["editions"] == set() and graph["grading"] == {"editions"}
    assert graph["coursework"] == {"editions", "grading"}
    done, visiting = set(), []

    def visit(module):  # depth first; a module met again on the current path closes a cycle
        assert module not in visiting, f"import cycle: {' -> '.join(visiting + [module])}"
        if module not in done:
            visiting.append(module)
            for imported in sorted(graph[module]):
                visit(imported)
            visiting.pop()
            done.add(module)

    for module in sorted(graph):
        visit(module)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_edition_hides_every_solution_and_keeps_every_check(path):
    instructor = nbformat.read(path, as_version=4)
    student = editions.student_edition(instructor)
    solutions = [c for c in instructor.cells if "solution" in c.metadata.get("tags", [])]
    assert exercise_count(instructor) >= 3
    assert exercise_count(student) == exercise_count(instructor)
    for cell in student.cells:
        assert "BEGIN SOLUTION" not in cell.source and "BEGIN HIDDEN TESTS" not in cell.source
        assert not cell.get("outputs")
        if "solution" in cell.metadata.get("tags", []):
            assert "# YOUR CODE HERE" in cell.source and "hide-input" not in cell.metadata["tags"]
    taught = "\n".join(c.source for c in instructor.cells if c not in solutions)  # the chapter's own code
    text = "\n".join(c.source for c in student.cells)
    for original in solutions:  # no line of an answer survives, unless the chapter itself shows it
        for block in editions.solution_blocks(original.source):
            body = [line.strip() for line in block.splitlines()[1:-1] if line.strip() and line.strip() not in taught]
            assert not any(line in text for line in body), body
    pasted = editions.paste_solutions(student, instructor)
    assert [c.source for c in pasted.cells if c in solutions or "solution" in c.metadata.get("tags", [])] == \
        [c.source for c in solutions]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_grader_lists_every_exercise_of_a_chapter(path):
    instructor = nbformat.read(path, as_version=4)
    exercises = [e for check in grading.instructor_checks(instructor) for e in check.exercises]
    assert len(exercises) == exercise_count(instructor)
    assert len({name for name, _ in exercises}) == len(exercises)
    assert all(points >= 1 for _, points in exercises)


# --- grading a synthetic chapter ------------------------------------------------------------

SOLUTION = "def {name}({args}):\n    ### BEGIN SOLUTION\n    return {body}\n    ### END SOLUTION\n"
CHECK = 'with gh.exercise("{title}", hint="{hint}"{points}):\n{lines}'


def synthetic_chapter() -> nbformat.NotebookNode:
    """Three exercises; `add` is worth 2 points and has a hidden case that catches `return 5`."""
    add_check = ('    gh.expect(add(2, 3) == 5, f"add(2, 3) should be 5, got {add(2, 3)}")\n'
                 "    ### BEGIN HIDDEN TESTS\n"
                 '    gh.expect(add(-4, 10) == 6, f"add(-4, 10) should be 6, got {add(-4, 10)}")\n'
                 "    ### END HIDDEN TESTS\n")
    cells = [
        ("intro", NEW.new_markdown_cell("# A synthetic chapter")),
        ("setup", NEW.new_code_cell("import gan_helpers as gh")),
        ("add", _solution("add", "a, b", "a + b")),
        ("check-add", NEW.new_code_cell(CHECK.format(title="1 · add", hint="a + b", points=", points=2", lines=add_check))),
        ("mul", _solution("mul", "a, b", "a * b")),
        ("check-mul", NEW.new_code_cell(CHECK.format(title="2 · mul", hint="a * b", points="",
                                                     lines='    gh.expect(mul(3, 4) == 12, "mul(3, 4) should be 12")\n'))),
        ("neg", _solution("neg", "a", "-a")),
        ("check-neg", NEW.new_code_cell(CHECK.format(title="3 · neg", hint="-a", points="",
                                                     lines='    gh.expect(neg(2) == -2, "neg(2) should be -2")\n'))),
    ]
    for cell_id, cell in cells:
        cell.id = cell_id
    return NEW.new_notebook(cells=[cell for _, cell in cells], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def _solution(name, args, body):
    cell = NEW.new_code_cell(SOLUTION.format(name=name, args=args, body=body))
    cell.metadata["tags"] = ["solution"]
    return cell


def submission(**answers) -> nbformat.NotebookNode:
    """The student edition with working answers, except ``answers`` {cell id: new source}."""
    instructor = synthetic_chapter()
    notebook = editions.paste_solutions(editions.student_edition(instructor), instructor)
    for cell in notebook.cells:
        if cell.id in answers:
            cell.source = answers[cell.id]
    return notebook


def insert_after(notebook, cell_id, source, new_id):
    index = [c.id for c in notebook.cells].index(cell_id)
    cell = NEW.new_code_cell(source)
    cell.id = new_id
    notebook.cells.insert(index + 1, cell)
    return notebook


def run_grader(tmp_path, notebook, **options):
    instructor, path = tmp_path / "01_synthetic.ipynb", tmp_path / "submitted" / "01_synthetic.ipynb"
    path.parent.mkdir()
    nbformat.write(synthetic_chapter(), instructor)
    nbformat.write(notebook, path)
    result = grading.grade(path, instructor, **options)
    return {o.exercise: (o.status, o.earned) for o in result.outcomes}, result


def test_checks_are_put_back_by_id_by_name_or_by_their_neighbours():
    instructor, notebook = synthetic_chapter(), submission(**{"check-neg": "print('[PASSED] Exercise 3 · neg')"})
    notebook.cells[3].id = "renamed"  # check-add, its id lost (an old Jupyter, a copy and paste)
    notebook.cells = [c for c in notebook.cells if c.id != "check-mul"]
    checks = grading.instructor_checks(instructor)
    tokens = {check.cell_id: f"token-{check.cell_id}" for check in checks}
    assembled, unplaced = grading.assemble(notebook, instructor, checks, tokens, {})
    assert unplaced == {} and [c.id for c in assembled.cells] == [c.id for c in instructor.cells]
    for check in checks:
        cell = assembled.cells[[c.id for c in assembled.cells].index(check.cell_id)]
        assert repr(check.source) in cell.source and f"token={tokens[check.cell_id]!r}" in cell.source
    assert "add(-4, 10)" in assembled.cells[3].source  # the hidden case runs when graded


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_gets_its_parameters_and_every_check_in_place(path):
    instructor = nbformat.read(path, as_version=4)
    checks = grading.instructor_checks(instructor)
    tokens = {check.cell_id: "t" for check in checks}
    student = editions.student_edition(instructor)
    assembled, unplaced = grading.assemble(student, instructor, checks, tokens, {"PROFILE": "smoke"})
    tagged = [i for i, c in enumerate(assembled.cells) if "parameters" in c.metadata.get("tags", [])]
    assert assembled.cells[tagged[0] + 1].source == "# Parameters set by the grader\nPROFILE = 'smoke'"
    answer_keys = sum(editions.ANSWER_KEY in c.metadata.get("tags", []) for c in instructor.cells)  # not handed out
    assert unplaced == {} and len(assembled.cells) == len(instructor.cells) - answer_keys + 1


def test_unreadable_submission_scores_zero_with_its_reason(tmp_path):
    instructor, path = tmp_path / "01_synthetic.ipynb", tmp_path / "broken.ipynb"
    nbformat.write(synthetic_chapter(), instructor)
    path.write_text("{ not a notebook")
    result = grading.grade(path, instructor)
    assert [(o.status, o.earned) for o in result.outcomes] == [("NOT RUN", 0)] * 3
    assert "not a readable notebook" in result.outcomes[0].reason


def test_forged_results_and_an_edited_check_are_ignored(tmp_path):
    """Wrong add, with a PASSED line, a fake result output and a helper that accepts anything;
    wrong mul, with its check emptied."""
    forged = ('print("[PASSED] Exercise 1 · add")\nimport gan_helpers as gh\n'
              "gh.expect = lambda condition, message: None\n"
              "from IPython.display import publish_display_data\n"
              'publish_display_data({"application/vnd.gan-course.check+json": {"token": "guess", "results": '
              '[{"name": "1 · add", "status": "PASSED", "message": ""}], "error": ""}})\n')
    edited = 'with gh.exercise("2 · mul", hint=""):\n    pass\nprint("[PASSED] Exercise 2 · mul")\n'
    notebook = submission(add="def add(a, b):\n    return a - b\n", mul="def mul(a, b):\n    return a + b\n",
                          **{"check-mul": edited})
    found, result = run_grader(tmp_path, insert_after(notebook, "check-add", forged, "forge"))
    assert found == {"1 · add": ("NOT YET RIGHT", 0), "2 · mul": ("NOT YET RIGHT", 0), "3 · neg": ("PASSED", 1)}
    assert [o.reason for o in result.outcomes[:2]] == ["add(2, 3) should be 5, got -1", "mul(3, 4) should be 12"]
    assert result.notes == ["read cell 4 (id forge): it rebinds a course helper; touches the grading machinery; "
                            "prints a PASSED line"]


def test_deleted_check_is_put_back_or_fails(tmp_path):
    notebook = submission(neg="def neg(a):\n    return a\n")
    notebook.cells = [c for c in notebook.cells if c.id not in ("check-mul", "check-neg")]
    found, result = run_grader(tmp_path, notebook)  # put back after the cells `mul` and `neg`
    assert found == {"1 · add": ("PASSED", 2), "2 · mul": ("PASSED", 1), "3 · neg": ("NOT YET RIGHT", 0)}
    assert (result.earned, result.total, result.notes) == (3, 4, [])


def test_check_with_no_cell_left_to_place_it_by_is_missing(tmp_path):
    notebook = submission()
    for i, cell in enumerate(notebook.cells):  # a notebook rebuilt from scratch: no id survives
        cell.id = f"new-{i}"
    notebook.cells = [c for c in notebook.cells if "exercise(" not in c.source]
    found, result = run_grader(tmp_path, notebook)
    assert found == {"1 · add": ("MISSING", 0), "2 · mul": ("MISSING", 0), "3 · neg": ("MISSING", 0)}
    assert "no cell around it" in result.outcomes[0].reason


def test_grading_prints_no_kernel_transport_warning(tmp_path, capfd):
    """ipykernel warns on stderr, once per kernel, when it listens on TCP without encryption: the
    grader's kernels use IPC sockets, so grading a class prints no such line per submission."""
    found, _ = run_grader(tmp_path, submission())
    assert found["2 · mul"] == ("PASSED", 1)
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out


def test_hidden_case_catches_an_answer_the_visible_case_accepts(tmp_path):
    notebook = submission(add="def add(a, b):\n    return 5\n")
    assert "add(-4, 10)" not in "".join(c.source for c in notebook.cells)  # the student never saw it
    found, result = run_grader(tmp_path, notebook)
    assert found == {"1 · add": ("NOT YET RIGHT", 0), "2 · mul": ("PASSED", 1), "3 · neg": ("PASSED", 1)}
    assert result.outcomes[0].reason == "add(-4, 10) should be 6, got 5"


def test_crash_and_infinite_loops_cost_only_their_own_exercises(tmp_path):
    notebook = submission(neg="def neg(a):\n    while True:\n        pass\n")
    insert_after(notebook, "check-add", "raise RuntimeError('my experiment broke')", "crash")
    insert_after(notebook, "crash", "while True:\n    pass", "stuck")
    found, result = run_grader(tmp_path, notebook, cell_timeout=2)
    assert found == {"1 · add": ("PASSED", 2), "2 · mul": ("PASSED", 1), "3 · neg": ("TIMED OUT", 0)}
    assert [n.split(": ", 1)[1].split(" (")[0] for n in result.notes] == [
        "error: RuntimeError: my experiment broke", "timed out: ran past the cell time limit"]


def test_notebook_time_limit_keeps_the_checks_it_reached(tmp_path):
    notebook = insert_after(submission(), "check-add", "import time\ntime.sleep(600)", "slow")
    found, result = run_grader(tmp_path, notebook, time_limit=2)
    assert found == {"1 · add": ("PASSED", 2), "2 · mul": ("NOT RUN", 0), "3 · neg": ("NOT RUN", 0)}
    assert "time limit (2 s) was reached" in result.outcomes[1].reason


def test_reports_and_class_summary(tmp_path):
    good, bad = grading.Grade(tmp_path / "a.ipynb", tmp_path / "01_x.ipynb", [
        grading.Outcome("1 · add", 2, "PASSED"), grading.Outcome("2 · mul", 1, "PASSED")]), grading.Grade(
        tmp_path / "b.ipynb", tmp_path / "01_x.ipynb", [
            grading.Outcome("1 · add", 2, "NOT YET RIGHT", "add(2, 3) should be 5, got -1"),
            grading.Outcome("2 · mul", 1, "PASSED")], ["read cell 3"])
    grading.write_report(bad, tmp_path, "b")
    assert (tmp_path / "b.csv").read_text().splitlines() == [
        "exercise,points,max_points,status,reason", '1 · add,0,2,NOT YET RIGHT,"add(2, 3) should be 5, got -1"',
        "2 · mul,1,1,PASSED,"]
    assert "**1 of 3 points**" in (tmp_path / "b.md").read_text()
    summary = grading.write_summary([good, bad], tmp_path)
    assert [(s["exercise"], s["mean_points"], s["passed"]) for s in summary] == [("1 · add", 1.0, 1), ("2 · mul", 1.0, 2)]
    assert "| 01_x | 1 · add | 1 / 2 | 1 of 2 |" in (tmp_path / "summary.md").read_text()


def test_grade_command_writes_a_report_per_submission_and_a_class_summary(tmp_path):
    """Two students' submissions with the same file name; neither needs a kernel (no check can run)."""
    instructor = tmp_path / "01_synthetic.ipynb"
    nbformat.write(synthetic_chapter(), instructor)
    for student in ("ann", "bob"):
        (tmp_path / student).mkdir()
    (tmp_path / "ann" / "01_synthetic.ipynb").write_text("not a notebook")
    rebuilt = submission()
    rebuilt.cells = [c for c in rebuilt.cells if "exercise(" not in c.source]
    for i, cell in enumerate(rebuilt.cells):
        cell.id = f"new-{i}"
    nbformat.write(rebuilt, tmp_path / "bob" / "01_synthetic.ipynb")
    command = [sys.executable, "tools/coursework.py", "grade", str(tmp_path / "ann" / "01_synthetic.ipynb"),
               str(tmp_path / "bob" / "01_synthetic.ipynb"), "--instructor", str(instructor), "--out", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=book.ROOT, capture_output=True, text=True)
    assert done.returncode == coursework.NOT_ALL_GRADED, done.stderr  # ann's could not be read
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["ann-01_synthetic.csv", "ann-01_synthetic.md", "bob-01_synthetic.csv", "bob-01_synthetic.graded.ipynb",
                       "bob-01_synthetic.md", "grades.csv", "summary.csv", "summary.md"]
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| 01_synthetic | 1 · add | 0 / 2 | 0 of 1 |" in summary  # bob's: ann's file was not graded
    assert "| ann | " in summary.split("## Could not be graded (1)")[1]
    assert "| 3 · neg | 0 / 1 | MISSING |" in (tmp_path / "out" / "bob-01_synthetic.md").read_text()
