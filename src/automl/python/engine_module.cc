// trainyard._automl._engine: the AutoML engine for Python, on CPython's stable ABI
// (Py_LIMITED_API 0x030B0000: one .abi3.so loads in 3.11 and 3.13). Inputs are lists or any
// C-contiguous buffer (numpy arrays) of numbers; numpy is never needed at build time. Matrix
// outputs come back as (bytes of float64, rows, cols); python/trainyard/_automl wraps them.
// Fitted pipelines travel as capsules. Engine errors become ValueError (bad input),
// FileNotFoundError (missing file) or RuntimeError; the GIL is released while the engine works.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "automl/data_io.h"
#include "automl/ensemble.h"
#include "automl/explain.h"
#include "automl/metrics.h"
#include "automl/pipeline.h"
#include "automl/registry.h"
#include "automl/search.h"
#include "automl/splitter.h"
#include "automl/table.h"
#include "automl/trees.h"
#include "common/error.h"

namespace ta = trainyard::automl;

namespace {

constexpr const char* kCapsule = "trainyard.automl.Pipeline";

// Sets the Python error for the exception in flight; returns nullptr for `return Fail();`.
PyObject* Fail() {
  try {
    throw;
  } catch (const trainyard::NotFound& e) {
    PyErr_SetString(PyExc_FileNotFoundError, e.what());
  } catch (const trainyard::InvalidInput& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const ta::Cancelled& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

// Thrown after a Python error is already set.
struct PyErrorSet {};

struct Ref {
  PyObject* p;
  explicit Ref(PyObject* o) : p(o) {}
  ~Ref() { Py_XDECREF(p); }
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
};

double ItemToDouble(PyObject* o) {
  double v = PyFloat_AsDouble(o);
  if (v == -1.0 && PyErr_Occurred()) throw PyErrorSet{};
  return v;
}

// Reads a C-contiguous numeric buffer of 1 or 2 dimensions into doubles. Returns false (no
// error set) when `obj` has no usable buffer.
bool FromBuffer(PyObject* obj, std::vector<double>& out, size_t& rows, size_t& cols, int& ndim) {
  if (PyUnicode_Check(obj) || PyBytes_Check(obj)) return false;
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
    PyErr_Clear();
    return false;
  }
  struct Release {
    Py_buffer* v;
    ~Release() { PyBuffer_Release(v); }
  } release{&view};
  if (view.ndim < 1 || view.ndim > 2) return false;
  std::string fmt = view.format ? view.format : "B";
  if (!fmt.empty() && (fmt[0] == '<' || fmt[0] == '=' || fmt[0] == '@')) fmt = fmt.substr(1);
  if (fmt.size() != 1) return false;
  ndim = view.ndim;
  rows = static_cast<size_t>(view.shape[0]);
  cols = view.ndim == 2 ? static_cast<size_t>(view.shape[1]) : 1;
  const size_t n = rows * cols;
  out.resize(n);
  const char* p = static_cast<const char*>(view.buf);
  auto copy = [&](auto tag) {
    using T = decltype(tag);
    if (static_cast<size_t>(view.itemsize) != sizeof(T)) return false;
    for (size_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, p + i * sizeof(T), sizeof(T));
      out[i] = static_cast<double>(v);
    }
    return true;
  };
  switch (fmt[0]) {
    case 'd':
      return copy(double{});
    case 'f':
      return copy(float{});
    case 'q':
      return copy(int64_t{});
    case 'l':
      return copy(long{});
    case 'i':
      return copy(int32_t{});
    case 'h':
      return copy(int16_t{});
    case 'b':
      return copy(int8_t{});
    case 'Q':
      return copy(uint64_t{});
    case 'L':
      return copy(static_cast<unsigned long>(0));
    case 'I':
      return copy(uint32_t{});
    case 'H':
      return copy(uint16_t{});
    case 'B':
      return copy(uint8_t{});
    case '?':
      return copy(bool{});
    default:
      return false;
  }
}

ta::Matrix ToMatrix(PyObject* obj, const char* what) {
  ta::Matrix m;
  int ndim = 0;
  if (FromBuffer(obj, m.data, m.rows, m.cols, ndim)) {
    if (ndim != 2) throw trainyard::InvalidInput(std::string(what) + " must be 2-dimensional");
    return m;
  }
  Ref it(PyObject_GetIter(obj));
  if (!it.p) throw PyErrorSet{};
  bool first = true;
  while (PyObject* row_obj = PyIter_Next(it.p)) {
    Ref row(row_obj);
    std::vector<double> r;
    size_t rr = 0, rc = 0;
    int rd = 0;
    if (!FromBuffer(row.p, r, rr, rc, rd)) {
      Ref rit(PyObject_GetIter(row.p));
      if (!rit.p) {
        PyErr_Clear();
        throw trainyard::InvalidInput(std::string(what) +
                                      " must be 2-dimensional (rows of numbers)");
      }
      while (PyObject* item = PyIter_Next(rit.p)) {
        Ref v(item);
        r.push_back(ItemToDouble(v.p));
      }
      if (PyErr_Occurred()) throw PyErrorSet{};
    }
    if (first) {
      m.cols = r.size();
      first = false;
    } else if (r.size() != m.cols) {
      throw trainyard::InvalidInput(std::string(what) + ": row " + std::to_string(m.rows) +
                                    " has " + std::to_string(r.size()) + " values, row 0 has " +
                                    std::to_string(m.cols));
    }
    m.data.insert(m.data.end(), r.begin(), r.end());
    ++m.rows;
  }
  if (PyErr_Occurred()) throw PyErrorSet{};
  return m;
}

std::vector<double> ToVector(PyObject* obj, const char* what) {
  std::vector<double> v;
  size_t r = 0, c = 0;
  int nd = 0;
  if (FromBuffer(obj, v, r, c, nd)) {
    if (nd == 2 && c != 1)
      throw trainyard::InvalidInput(std::string(what) + " must be 1-dimensional");
    return v;
  }
  Ref it(PyObject_GetIter(obj));
  if (!it.p) throw PyErrorSet{};
  while (PyObject* item = PyIter_Next(it.p)) {
    Ref o(item);
    v.push_back(ItemToDouble(o.p));
  }
  if (PyErr_Occurred()) throw PyErrorSet{};
  return v;
}

// The UTF-8 text of a str object; PyErrorSet when it is not one.
std::string Utf8(PyObject* str) {
  Py_ssize_t n = 0;
  const char* u = PyUnicode_AsUTF8AndSize(str, &n);
  if (!u) throw PyErrorSet{};
  return std::string(u, static_cast<size_t>(n));
}

std::vector<std::string> ToStrings(PyObject* obj) {
  std::vector<std::string> out;
  if (obj == nullptr || obj == Py_None) return out;
  Ref it(PyObject_GetIter(obj));
  if (!it.p) throw PyErrorSet{};
  while (PyObject* item = PyIter_Next(it.p)) {
    Ref o(item);
    Ref s(PyObject_Str(o.p));
    if (!s.p) throw PyErrorSet{};
    out.push_back(Utf8(s.p));
  }
  if (PyErr_Occurred()) throw PyErrorSet{};
  return out;
}

// y_valid encoded with the training target's classes (classification) or as values
// (regression). Classification labels may be numbers or text; each must be a training class.
std::vector<double> ValidationLabels(PyObject* yv, const ta::Target& t) {
  if (t.task == ta::Task::kRegression) return ToVector(yv, "y_valid");
  std::vector<std::string> names;
  std::vector<double> numeric;
  size_t r = 0, c = 0;
  int nd = 0;
  if (FromBuffer(yv, numeric, r, c, nd)) {
    for (double v : numeric) names.push_back(ta::FormatNumber(v));
  } else {
    Ref it(PyObject_GetIter(yv));
    if (!it.p) throw PyErrorSet{};
    size_t row = 0;
    while (PyObject* item = PyIter_Next(it.p)) {
      Ref o(item);
      if (o.p == Py_None) {
        throw trainyard::InvalidInput("y_valid has a missing label (None) at row " +
                                      std::to_string(row));
      }
      names.push_back(PyUnicode_Check(o.p) ? Utf8(o.p) : ta::FormatNumber(ItemToDouble(o.p)));
      ++row;
    }
    if (PyErr_Occurred()) throw PyErrorSet{};
  }
  std::vector<double> out;
  out.reserve(names.size());
  for (const auto& name : names) {
    auto f = std::find(t.class_names.begin(), t.class_names.end(), name);
    if (f == t.class_names.end()) {
      throw trainyard::InvalidInput("y_valid has the label " + name +
                                    " that the training data does not have");
    }
    out.push_back(static_cast<double>(f - t.class_names.begin()));
  }
  return out;
}

// y for a task: numbers (classification encodes them), or labels of any other type.
ta::Target ToTarget(PyObject* obj, ta::Task task) {
  std::vector<double> v;
  size_t r = 0, c = 0;
  int nd = 0;
  if (FromBuffer(obj, v, r, c, nd)) {
    return task == ta::Task::kClassification ? ta::EncodeNumericLabels(v)
                                             : ta::RegressionTarget(std::move(v));
  }
  Ref it(PyObject_GetIter(obj));
  if (!it.p) throw PyErrorSet{};
  std::vector<std::string> labels;
  bool numeric = true;
  std::vector<PyObject*> items;
  while (PyObject* item = PyIter_Next(it.p)) {
    items.push_back(item);
    if (PyUnicode_Check(item) || item == Py_None) numeric = false;
  }
  struct Drop {
    std::vector<PyObject*>& v;
    ~Drop() {
      for (auto* o : v) Py_DECREF(o);
    }
  } drop{items};
  if (PyErr_Occurred()) throw PyErrorSet{};
  if (numeric) {
    for (auto* o : items) v.push_back(ItemToDouble(o));
    return task == ta::Task::kClassification ? ta::EncodeNumericLabels(v)
                                             : ta::RegressionTarget(std::move(v));
  }
  if (task == ta::Task::kRegression) {
    throw trainyard::InvalidInput("regression needs numeric y; y holds text or None values");
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i] == Py_None) {
      throw trainyard::InvalidInput("y has a missing label (None) at row " + std::to_string(i));
    }
    Ref s(PyObject_Str(items[i]));
    Py_ssize_t n = 0;
    const char* u = s.p ? PyUnicode_AsUTF8AndSize(s.p, &n) : nullptr;
    if (!u) throw PyErrorSet{};
    labels.emplace_back(u, static_cast<size_t>(n));
  }
  return ta::EncodeStringLabels(labels);
}

PyObject* MatrixOut(const ta::Matrix& m) {
  return Py_BuildValue("(y#nn)", reinterpret_cast<const char*>(m.data.data()),
                       static_cast<Py_ssize_t>(m.data.size() * sizeof(double)),
                       static_cast<Py_ssize_t>(m.rows), static_cast<Py_ssize_t>(m.cols));
}

PyObject* ListOf(const std::vector<double>& v) {
  PyObject* l = PyList_New(static_cast<Py_ssize_t>(v.size()));
  if (!l) return nullptr;
  for (size_t i = 0; i < v.size(); ++i)
    PyList_SetItem(l, static_cast<Py_ssize_t>(i), PyFloat_FromDouble(v[i]));
  return l;
}

PyObject* ListOf(const std::vector<int32_t>& v) {
  PyObject* l = PyList_New(static_cast<Py_ssize_t>(v.size()));
  if (!l) return nullptr;
  for (size_t i = 0; i < v.size(); ++i)
    PyList_SetItem(l, static_cast<Py_ssize_t>(i), PyLong_FromLong(v[i]));
  return l;
}

PyObject* ListOf(const std::vector<std::string>& v) {
  PyObject* l = PyList_New(static_cast<Py_ssize_t>(v.size()));
  if (!l) return nullptr;
  for (size_t i = 0; i < v.size(); ++i) {
    PyList_SetItem(l, static_cast<Py_ssize_t>(i),
                   PyUnicode_FromStringAndSize(v[i].data(), static_cast<Py_ssize_t>(v[i].size())));
  }
  return l;
}

PyObject* ScoresDict(const ta::Scores& s) {
  PyObject* d = PyDict_New();
  for (const auto& [k, v] : s) {
    PyObject* f = PyFloat_FromDouble(v);
    PyDict_SetItemString(d, k.c_str(), f);
    Py_DECREF(f);
  }
  return d;
}

ta::Task TaskArg(const char* s) { return ta::ParseTask(s ? s : ""); }

void DestroyPipeline(PyObject* cap) {
  delete static_cast<ta::Pipeline*>(PyCapsule_GetPointer(cap, kCapsule));
}

PyObject* Wrap(std::unique_ptr<ta::Pipeline> p) {
  return PyCapsule_New(p.release(), kCapsule, DestroyPipeline);
}

const ta::Pipeline& Unwrap(PyObject* cap) {
  auto* p = static_cast<ta::Pipeline*>(PyCapsule_GetPointer(cap, kCapsule));
  if (!p) throw PyErrorSet{};
  return *p;
}

ta::Params ToParams(PyObject* dict) {
  ta::Params params;
  if (!dict || dict == Py_None) return params;
  if (!PyDict_Check(dict)) throw trainyard::InvalidInput("params must be a dict");
  PyObject *key, *value;
  Py_ssize_t pos = 0;
  while (PyDict_Next(dict, &pos, &key, &value)) {
    Py_ssize_t n = 0;
    const char* k = PyUnicode_AsUTF8AndSize(key, &n);
    if (!k) throw PyErrorSet{};
    std::string name(k, static_cast<size_t>(n));
    if (PyUnicode_Check(value)) {
      const char* v = PyUnicode_AsUTF8AndSize(value, &n);
      if (!v) throw PyErrorSet{};
      params.str[name] = std::string(v, static_cast<size_t>(n));
    } else if (value == Py_None) {
      continue;
    } else {
      params.num[name] = ItemToDouble(value);
    }
  }
  return params;
}

// Runs `body` converting C++ exceptions into Python errors.
template <typename F>
PyObject* Guard(F&& body) {
  try {
    return body();
  } catch (const PyErrorSet&) {
    return nullptr;
  } catch (...) {
    return Fail();
  }
}

// ---- module functions ---------------------------------------------------------------------

PyObject* ClassificationScoresPy(PyObject*, PyObject* args) {
  PyObject *y, *proba;
  if (!PyArg_ParseTuple(args, "OO", &y, &proba)) return nullptr;
  return Guard([&]() -> PyObject* {
    std::vector<double> yt = ToVector(y, "y_true");
    ta::Matrix p = ToMatrix(proba, "y_proba");
    return ScoresDict(ta::ClassificationScores(yt, p));
  });
}

PyObject* RegressionScoresPy(PyObject*, PyObject* args) {
  PyObject *y, *pred;
  double range = 0;
  if (!PyArg_ParseTuple(args, "OO|d", &y, &pred, &range)) return nullptr;
  return Guard([&]() -> PyObject* {
    return ScoresDict(ta::RegressionScores(ToVector(y, "y_true"), ToVector(pred, "y_pred"), range));
  });
}

PyObject* SplitsPy(PyObject*, PyObject* args) {
  PyObject* y;
  const char* task;
  Py_ssize_t folds = 0;
  double validation_size = 0;
  unsigned long long seed = 0;
  if (!PyArg_ParseTuple(args, "Osndk", &y, &task, &folds, &validation_size, &seed)) return nullptr;
  return Guard([&]() -> PyObject* {
    ta::Target t = ToTarget(y, TaskArg(task));
    std::vector<ta::Fold> fs;
    if (validation_size > 0)
      fs = {ta::HoldoutSplit(t, validation_size, seed)};
    else
      fs = ta::KFoldSplits(t, static_cast<size_t>(folds), seed);
    PyObject* out = PyList_New(static_cast<Py_ssize_t>(fs.size()));
    for (size_t k = 0; k < fs.size(); ++k) {
      std::vector<int32_t> tr(fs[k].train.begin(), fs[k].train.end());
      std::vector<int32_t> va(fs[k].valid.begin(), fs[k].valid.end());
      PyList_SetItem(out, static_cast<Py_ssize_t>(k),
                     Py_BuildValue("(NN)", ListOf(tr), ListOf(va)));
    }
    return out;
  });
}

PyObject* DefaultValidationPy(PyObject*, PyObject* args) {
  Py_ssize_t rows, n_cv = 0;
  int has_valid = 0;
  double vsize = 0;
  if (!PyArg_ParseTuple(args, "n|pdn", &rows, &has_valid, &vsize, &n_cv)) return nullptr;
  return Guard([&]() -> PyObject* {
    auto plan = ta::ChooseValidation(static_cast<size_t>(rows), has_valid, vsize,
                                     static_cast<size_t>(n_cv));
    const char* kind = plan.kind == ta::ValidationPlan::Kind::kCrossValidation ? "cv"
                       : plan.kind == ta::ValidationPlan::Kind::kHoldout       ? "holdout"
                                                                               : "explicit";
    return Py_BuildValue("{s:s,s:n,s:d}", "kind", kind, "folds",
                         static_cast<Py_ssize_t>(plan.folds), "fraction", plan.fraction);
  });
}

// Releases the GIL for the lifetime of the object (long native work), restoring it on any exit.
struct GilReleased {
  PyThreadState* state = PyEval_SaveThread();
  GilReleased() = default;
  GilReleased(const GilReleased&) = delete;
  GilReleased& operator=(const GilReleased&) = delete;
  ~GilReleased() { PyEval_RestoreThread(state); }
};

// ---- tables: CSV files and raw rows (docs/AUTOML.md "Featurization of tables") -------------
// A Table capsule holds a LabeledTable (features, optional label column and its target).

constexpr const char* kTableCapsule = "trainyard.automl.Table";

void DestroyTable(PyObject* cap) {
  delete static_cast<ta::LabeledTable*>(PyCapsule_GetPointer(cap, kTableCapsule));
}

PyObject* WrapTable(ta::LabeledTable t) {
  return PyCapsule_New(new ta::LabeledTable(std::move(t)), kTableCapsule, DestroyTable);
}

bool IsTable(PyObject* o) { return PyCapsule_IsValid(o, kTableCapsule) != 0; }

const ta::LabeledTable& UnwrapTable(PyObject* cap) {
  auto* t = static_cast<ta::LabeledTable*>(PyCapsule_GetPointer(cap, kTableCapsule));
  if (!t) throw PyErrorSet{};
  return *t;
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw trainyard::NotFound("CSV file " + path + " cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A Table capsule or a CSV path as the raw table of a table model (explanations, input).
bool RawTableArg(const ta::Pipeline& p, PyObject* X, trainyard::DataTable& out) {
  if (!p.table_featurizer()) return false;
  if (IsTable(X)) {
    out = UnwrapTable(X).features;
    return true;
  }
  if (PyUnicode_Check(X)) {
    const std::string path = Utf8(X);
    out = ta::ReadCsvForFeaturizer(ReadTextFile(path), path, *p.table_featurizer());
    return true;
  }
  return false;
}

// Model input: a Table capsule or a CSV path (a table model featurizes it; a matrix model
// takes its numeric columns), else a numeric matrix (for a table model: its engineered
// features).
ta::Matrix ModelInput(const ta::Pipeline& p, PyObject* X, const char* what) {
  trainyard::DataTable t;
  if (RawTableArg(p, X, t)) return p.FeaturizeTable(t);
  if (IsTable(X)) {
    t = UnwrapTable(X).features;
  } else if (PyUnicode_Check(X)) {
    const std::string path = Utf8(X);
    t = ta::ReadCsvTable(ReadTextFile(path), path, "", "").features;
  } else {
    return ToMatrix(X, what);
  }
  return ta::NumericMatrix(t, p.feature_names(), p.input_columns());
}

// read_csv(path or [paths], label_column=None, task=None, separator=",", header=True,
//          transforms=None): transforms as a TabularDataset definition's list, in JSON.
PyObject* ReadCsvPy(PyObject*, PyObject* args, PyObject* kw) {
  static const char* kws[] = {"path",   "label_column", "task", "separator",
                              "header", "transforms",   nullptr};
  PyObject* paths;
  const char *label = nullptr, *task = nullptr, *sep = ",", *transforms = nullptr;
  int header = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|zzspz", const_cast<char**>(kws), &paths, &label,
                                   &task, &sep, &header, &transforms)) {
    return nullptr;
  }
  return Guard([&]() -> PyObject* {
    ta::CsvSource src;
    if (PyUnicode_Check(paths)) {
      src.paths.push_back(Utf8(paths));
    } else {
      src.paths = ToStrings(paths);
    }
    if (std::strlen(sep) != 1) throw trainyard::InvalidInput("separator must be one character");
    src.separator = sep[0];
    src.header = header != 0;
    if (transforms) src.transforms = ta::ParseTransforms(transforms);
    ta::LabeledTable t;
    {
      GilReleased released;
      t = ta::ReadCsvFiles(src, label ? label : "", task ? task : "");
    }
    return WrapTable(std::move(t));
  });
}

// table_from_columns(names, columns, label_column=None, task=None, model=None): columns are
// sequences of Python values (numbers go by their shortest text); None, NaN and the CSV
// missing spellings are missing. Each column is typed from its text as the CSV reader does,
// or, with the capsule of a table `model`, by that model's schema (categorical text kept as
// is, so "007" stays "007").
PyObject* TableFromColumnsPy(PyObject*, PyObject* args, PyObject* kw) {
  static const char* kws[] = {"names", "columns", "label_column", "task", "model", nullptr};
  PyObject *names, *columns, *model = Py_None;
  const char *label = nullptr, *task = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|zzO", const_cast<char**>(kws), &names, &columns,
                                   &label, &task, &model)) {
    return nullptr;
  }
  return Guard([&]() -> PyObject* {
    std::vector<std::string> nm = ToStrings(names);
    Ref it(PyObject_GetIter(columns));
    if (!it.p) throw PyErrorSet{};
    trainyard::DataTable table;
    size_t c = 0;
    while (PyObject* item = PyIter_Next(it.p)) {
      Ref col(item);
      if (c >= nm.size()) throw trainyard::InvalidInput("more columns than column names");
      trainyard::DataColumn dc;
      dc.name = nm[c++];
      Ref vit(PyObject_GetIter(col.p));
      if (!vit.p) throw PyErrorSet{};
      while (PyObject* v = PyIter_Next(vit.p)) {
        Ref val(v);
        if (val.p == Py_None) {
          dc.values.emplace_back(std::monostate{});
        } else if (PyUnicode_Check(val.p)) {
          std::string s = Utf8(val.p);
          if (s.empty() || trainyard::IsMissingToken(s))
            dc.values.emplace_back(std::monostate{});
          else
            dc.values.emplace_back(std::move(s));
        } else if (PyBool_Check(val.p)) {
          dc.values.emplace_back(std::string(val.p == Py_True ? "true" : "false"));
        } else if (PyNumber_Check(val.p)) {
          double d = ItemToDouble(val.p);
          if (std::isnan(d))
            dc.values.emplace_back(std::monostate{});
          else
            dc.values.emplace_back(ta::FormatNumber(d));
        } else {
          Ref s(PyObject_Str(val.p));
          const char* u = s.p ? PyUnicode_AsUTF8AndSize(s.p, nullptr) : nullptr;
          if (!u) throw PyErrorSet{};
          dc.values.emplace_back(std::string(u));
        }
      }
      if (PyErr_Occurred()) throw PyErrorSet{};
      if (model == Py_None) ta::InferColumnType(dc);
      if (!table.columns.empty() && dc.values.size() != table.num_rows) {
        throw trainyard::InvalidInput(
            "column '" + dc.name + "' has " + std::to_string(dc.values.size()) +
            " values, column '" + table.columns[0].name + "' " + std::to_string(table.num_rows));
      }
      table.num_rows = dc.values.size();
      table.columns.push_back(std::move(dc));
    }
    if (PyErr_Occurred()) throw PyErrorSet{};
    if (c != nm.size()) throw trainyard::InvalidInput("fewer columns than column names");
    if (model != Py_None) {
      const ta::Pipeline& p = Unwrap(model);
      if (p.table_featurizer()) {
        ta::ConformTable(table, *p.table_featurizer());
      } else {
        for (auto& col : table.columns) ta::InferColumnType(col);
      }
    }
    ta::LabeledTable lt;
    lt.features = std::move(table);
    if (label) lt = ta::SplitLabel(std::move(lt.features), label, task ? task : "", "the table");
    return WrapTable(std::move(lt));
  });
}

PyObject* TableInfoPy(PyObject*, PyObject* args) {
  PyObject* cap;
  if (!PyArg_ParseTuple(args, "O", &cap)) return nullptr;
  return Guard([&]() -> PyObject* {
    const ta::LabeledTable& t = UnwrapTable(cap);
    std::vector<std::string> names, types;
    for (const auto& c : t.features.columns) {
      names.push_back(c.name);
      types.push_back(trainyard::ColumnTypeName(c.type));
    }
    return Py_BuildValue("{s:N,s:N,s:n,s:s,s:s,s:N,s:N}", "columns", ListOf(names), "types",
                         ListOf(types), "rows", static_cast<Py_ssize_t>(t.features.num_rows),
                         "label_column", t.label_column.c_str(), "task",
                         t.label_column.empty() ? "" : ta::TaskName(t.target.task), "y",
                         ListOf(t.target.y), "classes", ListOf(t.target.class_names));
  });
}

// table_rows(t, indices) -> a table of those rows (labels included), in that order.
PyObject* TableRowsPy(PyObject*, PyObject* args) {
  PyObject *cap, *idx;
  if (!PyArg_ParseTuple(args, "OO", &cap, &idx)) return nullptr;
  return Guard([&]() -> PyObject* {
    const ta::LabeledTable& t = UnwrapTable(cap);
    std::vector<double> v = ToVector(idx, "indices");
    std::vector<size_t> rows;
    for (double d : v) {
      if (!(d >= 0 && d < static_cast<double>(t.features.num_rows))) {
        throw trainyard::InvalidInput("row index " + ta::FormatNumber(d) + " is out of range");
      }
      rows.push_back(static_cast<size_t>(d));
    }
    return WrapTable(ta::SelectTableRows(t, rows));
  });
}

// table_keep(t, names) -> a table of those columns (labels kept).
PyObject* TableKeepPy(PyObject*, PyObject* args) {
  PyObject *cap, *names;
  if (!PyArg_ParseTuple(args, "OO", &cap, &names)) return nullptr;
  return Guard([&]() -> PyObject* {
    ta::LabeledTable t = UnwrapTable(cap);
    t.features.KeepColumns(ToStrings(names));
    return WrapTable(std::move(t));
  });
}

// featurize(t, featurization) -> {"state": bytes, "X": matrix, "names", "raw_names", "source"}
PyObject* FeaturizePy(PyObject*, PyObject* args) {
  PyObject* cap;
  const char* mode = "auto";
  if (!PyArg_ParseTuple(args, "O|s", &cap, &mode)) return nullptr;
  return Guard([&]() -> PyObject* {
    const ta::LabeledTable& t = UnwrapTable(cap);
    ta::TableFeaturizer f;
    ta::Matrix X;
    {
      GilReleased released;
      f.Fit(t.features, ta::Featurizer::ParseMode(mode));
      X = f.Transform(t.features);
    }
    ta::ByteWriter w;
    f.Save(w);
    std::vector<double> source(f.output_source().begin(), f.output_source().end());
    return Py_BuildValue("{s:y#,s:N,s:N,s:N,s:N}", "state", w.buffer().data(),
                         static_cast<Py_ssize_t>(w.buffer().size()), "X", MatrixOut(X), "names",
                         ListOf(f.output_names()), "raw_names", ListOf(f.raw_names()), "source",
                         ListOf(source));
  });
}

ta::TableFeaturizer LoadFeaturizerState(PyObject* state) {
  char* data;
  Py_ssize_t n;
  if (PyBytes_AsStringAndSize(state, &data, &n) != 0) throw PyErrorSet{};
  ta::ByteReader r(std::string_view(data, static_cast<size_t>(n)), "table featurizer state");
  ta::TableFeaturizer f;
  f.Load(r);
  return f;
}

// transform_table(state, t) -> the engineered features of t.
PyObject* TransformTablePy(PyObject*, PyObject* args) {
  PyObject *state, *cap;
  if (!PyArg_ParseTuple(args, "OO", &state, &cap)) return nullptr;
  return Guard([&]() -> PyObject* {
    ta::TableFeaturizer f = LoadFeaturizerState(state);
    return MatrixOut(f.Transform(UnwrapTable(cap).features));
  });
}

// set_table_featurizer(p, state): the model (trained on featurize()'s X) takes raw tables.
PyObject* SetTableFeaturizerPy(PyObject*, PyObject* args) {
  PyObject *cap, *state;
  if (!PyArg_ParseTuple(args, "OO", &cap, &state)) return nullptr;
  return Guard([&]() -> PyObject* {
    auto* p = static_cast<ta::Pipeline*>(PyCapsule_GetPointer(cap, kCapsule));
    if (!p) throw PyErrorSet{};
    p->SetTableFeaturizer(std::make_shared<ta::TableFeaturizer>(LoadFeaturizerState(state)));
    Py_RETURN_NONE;
  });
}

// The labels of a Table (y None) or y.
ta::Target TableTarget(const ta::LabeledTable& t, PyObject* y, ta::Task task) {
  if (y != Py_None) return ToTarget(y, task);
  if (t.label_column.empty()) {
    throw trainyard::InvalidInput(
        "y is None and the table has no label column; read it with label_column=...");
  }
  if (t.target.task != task) {
    throw trainyard::InvalidInput(std::string("the table's labels were read for ") +
                                  ta::TaskName(t.target.task) + ", not " + ta::TaskName(task));
  }
  return t.target;
}

// Training data of cross_validate / evaluate: a numeric matrix and y, or a Table featurized
// once by a TableFeaturizer fitted on all its rows (as the driver does; y None: its labels).
void TrainingInput(PyObject* X, PyObject* y, ta::Task task, ta::Featurizer::Mode mode,
                   ta::Matrix& m, ta::Target& t) {
  if (!IsTable(X)) {
    m = ToMatrix(X, "X");
    t = ToTarget(y, task);
    return;
  }
  const ta::LabeledTable& lt = UnwrapTable(X);
  t = TableTarget(lt, y, task);
  ta::TableFeaturizer f;
  f.Fit(lt.features, mode);
  m = f.Transform(lt.features);
}

// fit() on a Table: y None takes the table's label column (which must match `task`).
PyObject* FitTable(const ta::PipelineSpec& spec, const ta::LabeledTable& t, PyObject* y,
                   ta::Task task, const ta::FitContext& ctx) {
  ta::Target target = TableTarget(t, y, task);
  std::unique_ptr<ta::Pipeline> p;
  {
    GilReleased released;
    p = ta::Pipeline::Fit(spec, t.features, target, ctx);
  }
  return Wrap(std::move(p));
}

PyObject* FitPy(PyObject*, PyObject* args, PyObject* kw) {
  static const char* kws[] = {
      "X",       "y",    "task",          "learner", "params", "scaler", "featurization",
      "threads", "seed", "feature_names", nullptr};
  PyObject *X, *y, *params = nullptr, *names = nullptr;
  const char *task, *learner, *scaler = "", *featurization = "auto";
  Py_ssize_t threads = 1;
  unsigned long long seed = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOss|OssnKO", const_cast<char**>(kws), &X, &y, &task,
                                   &learner, &params, &scaler, &featurization, &threads, &seed,
                                   &names)) {
    return nullptr;
  }
  return Guard([&]() -> PyObject* {
    ta::PipelineSpec spec;
    spec.learner = learner;
    spec.params = ToParams(params);
    spec.scaler = ta::Scaler::Parse(scaler);
    spec.featurization = ta::Featurizer::ParseMode(featurization);
    ta::FitContext ctx;
    ctx.threads = static_cast<size_t>(std::max<Py_ssize_t>(1, threads));
    ctx.seed = seed;
    if (IsTable(X)) return FitTable(spec, UnwrapTable(X), y, TaskArg(task), ctx);
    ta::Matrix m = ToMatrix(X, "X");
    ta::Target t = ToTarget(y, TaskArg(task));
    std::vector<std::string> fn = ToStrings(names);
    std::unique_ptr<ta::Pipeline> p;
    {
      GilReleased released;
      p = ta::Pipeline::Fit(spec, m, t, ctx, fn);
    }
    return Wrap(std::move(p));
  });
}

PyObject* CrossValidatePy(PyObject*, PyObject* args, PyObject* kw) {
  static const char* kws[] = {"X",       "y",      "task",          "learner",
                              "params",  "scaler", "featurization", "folds",
                              "threads", "seed",   nullptr};
  PyObject *X, *y, *params = nullptr;
  const char *task, *learner, *scaler = "", *featurization = "auto";
  Py_ssize_t folds = 5, threads = 1;
  unsigned long long seed = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOss|OssnnK", const_cast<char**>(kws), &X, &y, &task,
                                   &learner, &params, &scaler, &featurization, &folds, &threads,
                                   &seed)) {
    return nullptr;
  }
  return Guard([&]() -> PyObject* {
    ta::PipelineSpec spec;
    spec.learner = learner;
    spec.params = ToParams(params);
    spec.scaler = ta::Scaler::Parse(scaler);
    spec.featurization = ta::Featurizer::ParseMode(featurization);
    ta::Matrix m;
    ta::Target t;
    TrainingInput(X, y, TaskArg(task), spec.featurization, m, t);
    ta::FitContext ctx;
    ctx.threads = static_cast<size_t>(std::max<Py_ssize_t>(1, threads));
    ctx.seed = seed;
    ta::Evaluation ev;
    {
      GilReleased released;
      ev = ta::EvaluatePipeline(spec, m, t, ta::KFoldSplits(t, static_cast<size_t>(folds), seed),
                                ctx);
    }
    return ScoresDict(ev.scores);
  });
}

PyObject* EvaluatePy(PyObject*, PyObject* args, PyObject* kw) {
  static const char* kws[] = {
      "X",     "y",       "task", "learner", "params",  "scaler", "featurization",
      "folds", "threads", "seed", "X_valid", "y_valid", nullptr};
  PyObject *X, *y, *params = nullptr, *Xv = Py_None, *yv = Py_None;
  const char *task, *learner, *scaler = "", *featurization = "auto";
  Py_ssize_t folds = 5, threads = 1;
  unsigned long long seed = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOss|OssnnKOO", const_cast<char**>(kws), &X, &y,
                                   &task, &learner, &params, &scaler, &featurization, &folds,
                                   &threads, &seed, &Xv, &yv)) {
    return nullptr;
  }
  return Guard([&]() -> PyObject* {
    ta::PipelineSpec spec;
    spec.learner = learner;
    spec.params = ToParams(params);
    spec.scaler = ta::Scaler::Parse(scaler);
    spec.featurization = ta::Featurizer::ParseMode(featurization);
    ta::Matrix m;
    ta::Target t;
    TrainingInput(X, y, TaskArg(task), spec.featurization, m, t);
    ta::Matrix mv;
    ta::Target tv = t;
    const bool explicit_valid = Xv != Py_None;
    if (explicit_valid && IsTable(X)) {
      throw trainyard::InvalidInput(
          "X_valid with a table X: featurize() the training table and pass its X, and "
          "transform_table() the validation table");
    }
    if (explicit_valid) {
      mv = ToMatrix(Xv, "X_valid");
      // Validation labels are encoded with the training classes: numbers by their shortest
      // text, text labels (str) as they are (a 10% holdout of a table with string classes).
      tv.y = ValidationLabels(yv, t);
    }
    ta::FitContext ctx;
    ctx.threads = static_cast<size_t>(std::max<Py_ssize_t>(1, threads));
    ctx.seed = seed;
    ta::Evaluation ev;
    {
      GilReleased released;
      std::vector<ta::Fold> fs;
      if (!explicit_valid) fs = ta::KFoldSplits(t, static_cast<size_t>(folds), seed);
      ev = ta::EvaluatePipeline(spec, m, t, fs, ctx, explicit_valid ? &mv : nullptr,
                                explicit_valid ? &tv : nullptr);
    }
    std::vector<int32_t> rows(ev.rows.begin(), ev.rows.end());
    return Py_BuildValue("{s:N,s:N,s:N}", "scores", ScoresDict(ev.scores), "predictions",
                         MatrixOut(ev.predictions), "rows", ListOf(rows));
  });
}

// A target from class indices (classification, C = n_classes) or values, without re-encoding.
ta::Target RawTarget(PyObject* y, ta::Task task, size_t n_classes) {
  ta::Target t;
  t.task = task;
  t.y = ToVector(y, "y");
  if (task == ta::Task::kClassification) {
    for (size_t c = 0; c < n_classes; ++c) t.class_names.push_back(std::to_string(c));
    for (double v : t.y) {
      if (!(v >= 0 && v < static_cast<double>(n_classes)) || v != std::floor(v)) {
        throw trainyard::InvalidInput("y must hold class indices 0.." +
                                      std::to_string(n_classes - 1));
      }
    }
  }
  return t;
}

std::vector<std::unique_ptr<ta::Pipeline>> CopyMembers(PyObject* list) {
  std::vector<std::unique_ptr<ta::Pipeline>> members;
  Ref it(PyObject_GetIter(list));
  if (!it.p) throw PyErrorSet{};
  while (PyObject* item = PyIter_Next(it.p)) {
    Ref cap(item);
    members.push_back(ta::Pipeline::Deserialize(Unwrap(cap.p).Serialize()));
  }
  if (PyErr_Occurred()) throw PyErrorSet{};
  return members;
}

PyObject* CaruanaPy(PyObject*, PyObject* args) {
  PyObject *preds, *y;
  const char *task, *metric;
  Py_ssize_t iterations = 15;
  double y_range = 0;
  if (!PyArg_ParseTuple(args, "OOss|nd", &preds, &y, &task, &metric, &iterations, &y_range)) {
    return nullptr;
  }
  return Guard([&]() -> PyObject* {
    std::vector<ta::Matrix> p;
    Ref it(PyObject_GetIter(preds));
    if (!it.p) throw PyErrorSet{};
    while (PyObject* item = PyIter_Next(it.p)) {
      Ref m(item);
      p.push_back(ToMatrix(m.p, "predictions"));
    }
    if (PyErr_Occurred()) throw PyErrorSet{};
    if (p.empty()) throw trainyard::InvalidInput("ensemble selection needs candidates");
    ta::Target t = RawTarget(y, TaskArg(task), p[0].cols);
    return ListOf(ta::CaruanaWeights(
        p, t, metric, static_cast<size_t>(std::max<Py_ssize_t>(0, iterations)), y_range));
  });
}

PyObject* VotingPy(PyObject*, PyObject* args) {
  PyObject *members, *weights;
  if (!PyArg_ParseTuple(args, "OO", &members, &weights)) return nullptr;
  return Guard([&]() -> PyObject* {
    return Wrap(ta::MakeVotingEnsemble(CopyMembers(members), ToVector(weights, "weights")));
  });
}

PyObject* StackPy(PyObject*, PyObject* args) {
  PyObject *members, *oof, *y;
  unsigned long long seed = 0;
  if (!PyArg_ParseTuple(args, "OOO|K", &members, &oof, &y, &seed)) return nullptr;
  return Guard([&]() -> PyObject* {
    auto m = CopyMembers(members);
    if (m.empty()) throw trainyard::InvalidInput("a stack ensemble needs members");
    std::vector<ta::Matrix> o;
    Ref it(PyObject_GetIter(oof));
    if (!it.p) throw PyErrorSet{};
    while (PyObject* item = PyIter_Next(it.p)) {
      Ref mm(item);
      o.push_back(ToMatrix(mm.p, "out-of-fold predictions"));
    }
    if (PyErr_Occurred()) throw PyErrorSet{};
    ta::Task task = m[0]->task();
    ta::Target t = RawTarget(y, task, m[0]->class_names().size());
    t.class_names = m[0]->class_names();
    ta::FitContext ctx;
    ctx.seed = seed;
    return Wrap(ta::MakeStackEnsemble(std::move(m), o, t, ctx));
  });
}

// A trial's hyperparameters as a dict: integer ones as int, the rest float or str.
PyObject* TrialParams(const ta::Trial& t) {
  PyObject* params = PyDict_New();
  for (const auto& [k, v] : t.spec.params.num) {
    const bool integer =
        std::find(t.integer_params.begin(), t.integer_params.end(), k) != t.integer_params.end();
    PyObject* n = integer ? PyLong_FromLongLong(static_cast<long long>(std::llround(v)))
                          : PyFloat_FromDouble(v);
    PyDict_SetItemString(params, k.c_str(), n);
    Py_DECREF(n);
  }
  for (const auto& [k, v] : t.spec.params.str) {
    PyObject* sv = PyUnicode_FromString(v.c_str());
    PyDict_SetItemString(params, k.c_str(), sv);
    Py_DECREF(sv);
  }
  return params;
}

PyObject* SearchPy(PyObject*, PyObject* args, PyObject* kw) {
  static const char* kws[] = {"X",
                              "y",
                              "task",
                              "metric",
                              "iterations",
                              "folds",
                              "time_budget",
                              "allowed",
                              "blocked",
                              "featurization",
                              "threads",
                              "seed",
                              "keep_predictions",
                              nullptr};
  PyObject *X, *y, *allowed = Py_None, *blocked = Py_None;
  const char *task, *metric, *featurization = "auto";
  Py_ssize_t iterations = 20, folds = 5, threads = 1, keep = 0;
  double budget = 0;
  unsigned long long seed = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOss|nndOOsnKn", const_cast<char**>(kws), &X, &y,
                                   &task, &metric, &iterations, &folds, &budget, &allowed, &blocked,
                                   &featurization, &threads, &seed, &keep)) {
    return nullptr;
  }
  return Guard([&]() -> PyObject* {
    ta::Matrix m = ToMatrix(X, "X");
    ta::Target t = ToTarget(y, TaskArg(task));
    ta::SearchSpace space;
    space.task = t.task;
    space.metric = metric;
    space.allowed = ToStrings(allowed);
    space.blocked = ToStrings(blocked);
    space.featurization = ta::Featurizer::ParseMode(featurization);
    space.seed = seed;
    space.budget_in_iterations = budget <= 0;
    space.rows = m.rows;
    if (iterations <= 0 && budget <= 0) {
      throw trainyard::InvalidInput(
          "search needs iterations > 0 or time_budget > 0 (iterations=0: no cap under a time "
          "budget)");
    }
    const size_t cap = iterations > 0 ? static_cast<size_t>(iterations) : SIZE_MAX;
    ta::SearchStrategy strategy(space);
    auto splits = ta::KFoldSplits(t, static_cast<size_t>(folds), seed);
    ta::FitContext ctx;
    ctx.threads = static_cast<size_t>(std::max<Py_ssize_t>(1, threads));
    ctx.seed = seed;
    std::atomic<bool> cancel{false};
    ctx.cancel = &cancel;  // set when the time budget is spent: the running trial stops
    std::vector<ta::SearchRecord> records;
    std::vector<ta::Scores> all_scores;  // every metric of each trial, in trial order
    // keep_predictions = k: the out-of-fold predictions of the best trial of each of the k
    // best learners (diverse candidates for ensemble selection: the best trials overall are
    // often near-copies of one pipeline), by learner name -> (trial index, evaluation).
    const size_t keep_k = static_cast<size_t>(std::max<Py_ssize_t>(0, keep));
    const bool higher = ta::HigherIsBetter(metric);
    auto better = [&](double a, double b) { return higher ? a > b : a < b; };
    std::map<std::string, std::pair<size_t, ta::Evaluation>> kept;
    {
      GilReleased released;
      records = ta::RunSequentialSearch(
          strategy, cap, budget,
          [&](const ta::PipelineSpec& spec) {
            const size_t index = all_scores.size();
            all_scores.emplace_back();  // stays empty when the trial fails
            ta::Evaluation ev = ta::EvaluatePipeline(spec, m, t, splits, ctx);
            all_scores.back() = ev.scores;
            const double score = ev.scores.at(metric);
            if (keep_k > 0 && std::isfinite(score)) {
              auto it = kept.find(spec.learner);
              if (it == kept.end()) {
                kept.emplace(spec.learner, std::make_pair(index, std::move(ev)));
              } else if (better(score, all_scores[it->second.first].at(metric))) {
                it->second = std::make_pair(index, std::move(ev));
              }
              if (kept.size() > keep_k) {
                auto worst = kept.begin();
                for (auto k = kept.begin(); k != kept.end(); ++k) {
                  if (better(all_scores[worst->second.first].at(metric),
                             all_scores[k->second.first].at(metric))) {
                    worst = k;
                  }
                }
                kept.erase(worst);
              }
            }
            return score;
          },
          &cancel);
    }
    PyObject* out = PyList_New(static_cast<Py_ssize_t>(records.size()));
    for (size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      PyObject* params = TrialParams(r.trial);
      PyObject* scores = ScoresDict(i < all_scores.size() ? all_scores[i] : ta::Scores{});
      PyObject* trial = Py_BuildValue(
          "{s:n,s:s,s:s,s:s,s:N,s:d,s:N,s:d,s:O}", "iteration", static_cast<Py_ssize_t>(r.trial.id),
          "pipeline", r.trial.label.c_str(), "learner", r.trial.spec.learner.c_str(), "scaler",
          ta::Scaler::DisplayName(r.trial.spec.scaler).c_str(), "params", params, "score",
          r.result.score, "scores", scores, "seconds", r.result.seconds, "failed",
          r.result.failed ? Py_True : Py_False);
      // A trial stopped by the budget after its evaluation finished is reported as failed:
      // its predictions are not offered either.
      auto k = kept.find(r.trial.spec.learner);
      if (trial && k != kept.end() && k->second.first == i && !r.result.failed) {
        const ta::Evaluation& ev = k->second.second;
        std::vector<int32_t> rows(ev.rows.begin(), ev.rows.end());
        PyObject* preds = MatrixOut(ev.predictions);
        PyObject* row_list = ListOf(rows);
        PyDict_SetItemString(trial, "predictions", preds);
        PyDict_SetItemString(trial, "rows", row_list);
        Py_XDECREF(preds);
        Py_XDECREF(row_list);
      }
      PyList_SetItem(out, static_cast<Py_ssize_t>(i), trial);
    }
    return out;
  });
}

PyObject* PredictRawPy(PyObject*, PyObject* args) {
  PyObject *cap, *X;
  if (!PyArg_ParseTuple(args, "OO", &cap, &X)) return nullptr;
  return Guard([&]() -> PyObject* {
    const ta::Pipeline& p = Unwrap(cap);
    ta::Matrix m = ModelInput(p, X, "X");
    ta::Matrix out;
    {
      GilReleased released;
      out = p.PredictRaw(m);
    }
    return MatrixOut(out);
  });
}

PyObject* InfoPy(PyObject*, PyObject* args) {
  PyObject* cap;
  if (!PyArg_ParseTuple(args, "O", &cap)) return nullptr;
  return Guard([&]() -> PyObject* {
    const ta::Pipeline& p = Unwrap(cap);
    return Py_BuildValue("{s:s,s:N,s:N,s:s}", "header", p.HeaderJson().c_str(), "classes",
                         ListOf(p.class_names()), "feature_names", ListOf(p.feature_names()),
                         "label", p.Label().c_str());
  });
}

PyObject* SerializePy(PyObject*, PyObject* args) {
  PyObject* cap;
  if (!PyArg_ParseTuple(args, "O", &cap)) return nullptr;
  return Guard([&]() -> PyObject* {
    std::string s = Unwrap(cap).Serialize();
    return PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
  });
}

PyObject* DeserializePy(PyObject*, PyObject* args) {
  const char* data;
  Py_ssize_t n;
  if (!PyArg_ParseTuple(args, "y#", &data, &n)) return nullptr;
  return Guard([&]() -> PyObject* {
    return Wrap(ta::Pipeline::Deserialize(std::string_view(data, static_cast<size_t>(n))));
  });
}

PyObject* LoadPy(PyObject*, PyObject* args) {
  const char* path;
  if (!PyArg_ParseTuple(args, "s", &path)) return nullptr;
  return Guard([&]() -> PyObject* { return Wrap(ta::Pipeline::Load(path)); });
}

PyObject* SavePy(PyObject*, PyObject* args) {
  PyObject* cap;
  const char* path;
  if (!PyArg_ParseTuple(args, "Os", &cap, &path)) return nullptr;
  return Guard([&]() -> PyObject* {
    Unwrap(cap).Save(path);
    Py_RETURN_NONE;
  });
}

PyObject* LearnersPy(PyObject*, PyObject* args) {
  const char* task;
  if (!PyArg_ParseTuple(args, "s", &task)) return nullptr;
  return Guard([&]() -> PyObject* { return ListOf(ta::LearnerNames(TaskArg(task))); });
}

PyObject* ReadHandoverPy(PyObject*, PyObject* args) {
  const char* path;
  const char* task;
  if (!PyArg_ParseTuple(args, "ss", &path, &task)) return nullptr;
  return Guard([&]() -> PyObject* {
    ta::RawDataset ds = ta::ReadHandover(path);
    ta::Target t = ta::MakeTarget(ds, TaskArg(task));
    return Py_BuildValue("{s:N,s:N,s:N,s:N}", "X", MatrixOut(ds.X), "feature_names",
                         ListOf(ds.feature_names), "y", ListOf(t.y), "classes",
                         ListOf(t.class_names));
  });
}

PyObject* ExplainPy(PyObject*, PyObject* args) {
  PyObject *cap, *X, *background = Py_None;
  const char* method = "auto";
  Py_ssize_t samples = 0;
  unsigned long long seed = 0;
  if (!PyArg_ParseTuple(args, "OO|OsnK", &cap, &X, &background, &method, &samples, &seed)) {
    return nullptr;
  }
  return Guard([&]() -> PyObject* {
    const ta::Pipeline& p = Unwrap(cap);
    ta::ExplainOptions opt;
    opt.method = method;
    opt.permutations = static_cast<size_t>(samples);
    opt.seed = seed;
    ta::Explanation e;
    std::vector<std::string> names = p.feature_names();
    trainyard::DataTable tx, tbg;
    if (RawTableArg(p, X, tx)) {
      // A raw table: SHAP on the raw column names (docs/AUTOML.md).
      const bool has_bg = background != Py_None;
      if (has_bg && !RawTableArg(p, background, tbg)) {
        throw trainyard::InvalidInput("background must be a table (or CSV path) like X");
      }
      GilReleased released;
      e = ta::ExplainTable(p, tx, has_bg ? &tbg : nullptr, opt);
      names = p.table_featurizer()->raw_names();
    } else {
      ta::Matrix m = ModelInput(p, X, "X");
      ta::Matrix bg;
      if (background != Py_None) bg = ModelInput(p, background, "background");
      GilReleased released;
      e = ta::Explain(p, m, background != Py_None ? &bg : nullptr, opt);
    }
    PyObject* values = PyList_New(static_cast<Py_ssize_t>(e.values.size()));
    for (size_t k = 0; k < e.values.size(); ++k) {
      PyList_SetItem(values, static_cast<Py_ssize_t>(k), MatrixOut(e.values[k]));
    }
    PyObject* outputs = PyList_New(static_cast<Py_ssize_t>(e.model_output.size()));
    for (size_t k = 0; k < e.model_output.size(); ++k) {
      PyList_SetItem(outputs, static_cast<Py_ssize_t>(k), ListOf(e.model_output[k]));
    }
    const bool classification = p.task() == ta::Task::kClassification;
    ta::ExplanationSummary sum = ta::Summarize(e, names, classification);
    PyObject* pcs = PyList_New(static_cast<Py_ssize_t>(sum.per_class_summary.size()));
    PyObject* pci = PyList_New(static_cast<Py_ssize_t>(sum.per_class_imp.size()));
    for (size_t k = 0; k < sum.per_class_summary.size(); ++k) {
      PyList_SetItem(pcs, static_cast<Py_ssize_t>(k), ListOf(sum.per_class_summary[k]));
      PyList_SetItem(pci, static_cast<Py_ssize_t>(k), ListOf(sum.per_class_imp[k]));
    }
    return Py_BuildValue("{s:N,s:N,s:N,s:N,s:s,s:s,s:N,s:N,s:N,s:N,s:N}", "features", ListOf(names),
                         "values", values, "expected_values", ListOf(e.expected_values),
                         "model_output", outputs, "method", e.method.c_str(), "output",
                         e.output.c_str(), "outputs", ListOf(e.output_names), "overall_summary",
                         ListOf(sum.overall_summary), "overall_imp", ListOf(sum.overall_imp),
                         "per_class_summary", pcs, "per_class_imp", pci);
  });
}

PyObject* TreesPy(PyObject*, PyObject* args) {
  PyObject* cap;
  if (!PyArg_ParseTuple(args, "O", &cap)) return nullptr;
  return Guard([&]() -> PyObject* {
    const ta::TreeEnsemble* ens = Unwrap(cap).learner().trees();
    if (!ens) throw trainyard::InvalidInput("this model has no trees");
    PyObject* trees = PyList_New(static_cast<Py_ssize_t>(ens->trees.size()));
    for (size_t t = 0; t < ens->trees.size(); ++t) {
      const ta::Tree& tr = ens->trees[t];
      PyList_SetItem(
          trees, static_cast<Py_ssize_t>(t),
          Py_BuildValue("{s:N,s:N,s:N,s:N,s:N,s:N,s:n}", "feature", ListOf(tr.feature), "threshold",
                        ListOf(tr.threshold), "left", ListOf(tr.left), "right", ListOf(tr.right),
                        "cover", ListOf(tr.cover), "value", ListOf(tr.value), "n_outputs",
                        static_cast<Py_ssize_t>(tr.n_outputs)));
    }
    std::vector<int32_t> outs = ens->tree_output;
    return Py_BuildValue("{s:N,s:N,s:d,s:O,s:N}", "trees", trees, "base", ListOf(ens->base),
                         "scale", ens->scale, "margin", ens->margin ? Py_True : Py_False,
                         "tree_output", ListOf(outs));
  });
}

// ---- the search step by step (trainyard._automl.Search) ------------------------------------
// A capsule holding a SearchStrategy; the GIL stays held (Next/Report are cheap), so one
// capsule is never used by two threads at once.

constexpr const char* kSearchCapsule = "trainyard.automl.Search";

void DestroySearch(PyObject* cap) {
  delete static_cast<ta::SearchStrategy*>(PyCapsule_GetPointer(cap, kSearchCapsule));
}

ta::SearchStrategy& UnwrapSearch(PyObject* cap) {
  auto* s = static_cast<ta::SearchStrategy*>(PyCapsule_GetPointer(cap, kSearchCapsule));
  if (!s) throw PyErrorSet{};
  return *s;
}

PyObject* SearchNewPy(PyObject*, PyObject* args, PyObject* kw) {
  static const char* kws[] = {"task",    "metric",        "allowed", "blocked",
                              "scalers", "featurization", "seed",    "budget_in_iterations",
                              "rows",    "cols",          nullptr};
  PyObject *allowed = Py_None, *blocked = Py_None, *scalers = Py_None;
  const char *task, *metric, *featurization = "auto";
  unsigned long long seed = 0;
  int in_iterations = 0;
  Py_ssize_t rows = 0, cols = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|OOOsKpnn", const_cast<char**>(kws), &task, &metric,
                                   &allowed, &blocked, &scalers, &featurization, &seed,
                                   &in_iterations, &rows, &cols)) {
    return nullptr;
  }
  return Guard([&]() -> PyObject* {
    ta::SearchSpace space;
    space.task = TaskArg(task);
    space.metric = metric;
    space.allowed = ToStrings(allowed);
    space.blocked = ToStrings(blocked);
    for (const auto& name : ToStrings(scalers)) {
      ta::Scaler::Kind k = ta::Scaler::Parse(name);
      if (k == ta::Scaler::Kind::kNone) {
        throw trainyard::InvalidInput(
            "scalers: 'none' is not a scaler to search; list scalers such as Standardize");
      }
      space.scalers.push_back(k);
    }
    space.featurization = ta::Featurizer::ParseMode(featurization);
    space.seed = seed;
    space.budget_in_iterations = in_iterations != 0;
    if (rows < 0) throw trainyard::InvalidInput("rows must be >= 0 (0: unknown)");
    space.rows = static_cast<size_t>(rows);
    if (cols < 0) throw trainyard::InvalidInput("cols must be >= 0 (0: unknown)");
    space.cols = static_cast<size_t>(cols);
    auto strategy = std::make_unique<ta::SearchStrategy>(std::move(space));
    return PyCapsule_New(strategy.release(), kSearchCapsule, DestroySearch);
  });
}

PyObject* SearchNextPy(PyObject*, PyObject* args) {
  PyObject *cap, *left = Py_None;
  if (!PyArg_ParseTuple(args, "O|O", &cap, &left)) return nullptr;
  return Guard([&]() -> PyObject* {
    ta::SearchStrategy& s = UnwrapSearch(cap);
    double seconds_left = std::numeric_limits<double>::infinity();
    if (left != Py_None) seconds_left = ItemToDouble(left);
    if (std::isnan(seconds_left)) throw trainyard::InvalidInput("seconds_left is NaN");
    std::optional<ta::Trial> t = s.Next(seconds_left);
    if (!t) Py_RETURN_NONE;
    return Py_BuildValue("{s:n,s:s,s:N,s:s,s:s,s:d}", "id", static_cast<Py_ssize_t>(t->id),
                         "learner", t->spec.learner.c_str(), "params", TrialParams(*t), "scaler",
                         ta::Scaler::DisplayName(t->spec.scaler).c_str(), "label", t->label.c_str(),
                         "expected_seconds", t->expected_seconds);
  });
}

PyObject* SearchReportPy(PyObject*, PyObject* args) {
  PyObject* cap;
  Py_ssize_t id;
  double score, seconds;
  int failed = 0;
  if (!PyArg_ParseTuple(args, "Ondd|p", &cap, &id, &score, &seconds, &failed)) return nullptr;
  return Guard([&]() -> PyObject* {
    ta::SearchStrategy& s = UnwrapSearch(cap);
    if (id < 0) throw trainyard::InvalidInput("trial id must be >= 0");
    if (!(seconds >= 0) || std::isinf(seconds)) {
      throw trainyard::InvalidInput("seconds must be a finite number >= 0");
    }
    s.Report({static_cast<size_t>(id), score, seconds, failed != 0});
    Py_RETURN_NONE;
  });
}

PyObject* SearchStatePy(PyObject*, PyObject* args) {
  PyObject* cap;
  if (!PyArg_ParseTuple(args, "O", &cap)) return nullptr;
  return Guard([&]() -> PyObject* {
    const ta::SearchStrategy& s = UnwrapSearch(cap);
    PyObject* best = s.has_best() ? PyFloat_FromDouble(s.best_score()) : Py_NewRef(Py_None);
    return Py_BuildValue("{s:N,s:N}", "best", best, "learners", ListOf(s.learners()));
  });
}

PyObject* SearchSpacePy(PyObject*, PyObject* args) {
  const char *learner, *task;
  if (!PyArg_ParseTuple(args, "ss", &learner, &task)) return nullptr;
  return Guard([&]() -> PyObject* {
    const ta::SearchProfile p = ta::SearchProfileOf(learner, TaskArg(task));
    PyObject* dims = PyList_New(0);
    for (const ta::ParamSpec& d : p.space) {
      const bool choice = d.type == ta::ParamSpec::Type::kChoice;
      PyObject* init =
          choice ? PyUnicode_FromString(d.default_str.c_str()) : PyFloat_FromDouble(d.default_num);
      PyObject* dim = Py_BuildValue("{s:s,s:s,s:d,s:d,s:N,s:O,s:N}", "name", d.name.c_str(), "type",
                                    choice                                ? "choice"
                                    : d.type == ta::ParamSpec::Type::kInt ? "int"
                                                                          : "float",
                                    "low", d.low, "high", d.high, "init", init, "log",
                                    d.log ? Py_True : Py_False, "choices", ListOf(d.choices));
      PyList_Append(dims, dim);
      Py_DECREF(dim);
    }
    return Py_BuildValue("{s:N,s:d,s:i,s:O,s:s}", "space", dims, "relative_cost", p.relative_cost,
                         "first_round", p.first_round, "scale_sensitive",
                         p.scale_sensitive ? Py_True : Py_False, "fixed_scaler",
                         ta::Scaler::DisplayName(p.fixed_scaler).c_str());
  });
}

PyMethodDef kMethods[] = {
    {"classification_scores", ClassificationScoresPy, METH_VARARGS,
     "classification_scores(y_true, y_proba) -> dict of every classification metric"},
    {"regression_scores", RegressionScoresPy, METH_VARARGS,
     "regression_scores(y_true, y_pred, y_range=0) -> dict of every regression metric"},
    {"splits", SplitsPy, METH_VARARGS,
     "splits(y, task, folds, validation_size, seed) -> [(train_idx, valid_idx), ...]"},
    {"default_validation", DefaultValidationPy, METH_VARARGS,
     "default_validation(rows, has_valid=False, validation_size=0, n_cross_validations=0)"},
    {"fit", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(FitPy)),
     METH_VARARGS | METH_KEYWORDS, "fit(X, y, task, learner, ...) -> pipeline capsule"},
    {"cross_validate",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(CrossValidatePy)),
     METH_VARARGS | METH_KEYWORDS, "cross_validate(X, y, task, learner, ...) -> mean scores"},
    {"evaluate", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(EvaluatePy)),
     METH_VARARGS | METH_KEYWORDS,
     "evaluate(X, y, task, learner, ..., folds, X_valid=None, y_valid=None) -> "
     "{scores, predictions, rows}"},
    {"caruana_weights", CaruanaPy, METH_VARARGS,
     "caruana_weights(predictions, y, task, metric, iterations=15, y_range=0) -> weights"},
    {"voting_ensemble", VotingPy, METH_VARARGS, "voting_ensemble(members, weights) -> capsule"},
    {"stack_ensemble", StackPy, METH_VARARGS, "stack_ensemble(members, oof, y) -> capsule"},
    {"search", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(SearchPy)),
     METH_VARARGS | METH_KEYWORDS,
     "search(X, y, task, metric, iterations=20, folds=5, time_budget=0, allowed=None, "
     "blocked=None, featurization='auto', threads=1, seed=0, keep_predictions=0) -> [trial "
     "dicts with every metric under 'scores'; the best trial of each of the keep_predictions "
     "best learners with its out-of-fold 'predictions' and 'rows']"},
    {"predict_raw", PredictRawPy, METH_VARARGS, "predict_raw(p, X) -> (bytes, rows, cols)"},
    {"info", InfoPy, METH_VARARGS, "info(p) -> dict"},
    {"serialize", SerializePy, METH_VARARGS, "serialize(p) -> bytes (the model file)"},
    {"deserialize", DeserializePy, METH_VARARGS, "deserialize(bytes) -> pipeline capsule"},
    {"load", LoadPy, METH_VARARGS, "load(path) -> pipeline capsule"},
    {"save", SavePy, METH_VARARGS, "save(p, path)"},
    {"learners", LearnersPy, METH_VARARGS, "learners(task) -> [names]"},
    {"read_handover", ReadHandoverPy, METH_VARARGS, "read_handover(path, task) -> dict"},
    {"explain", ExplainPy, METH_VARARGS,
     "explain(p, X, background=None, method='auto', samples=0, seed=0) -> dict"},
    {"trees", TreesPy, METH_VARARGS, "trees(p) -> the tree ensemble as lists"},
    // tables (CSV / raw rows)
    {"read_csv", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(ReadCsvPy)),
     METH_VARARGS | METH_KEYWORDS,
     "read_csv(path | [paths], label_column=None, task=None, separator=',', header=True, "
     "transforms=None) -> table"},
    {"table_from_columns",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(TableFromColumnsPy)),
     METH_VARARGS | METH_KEYWORDS,
     "table_from_columns(names, columns, label_column=None, task=None, model=None) -> table"},
    {"table_info", TableInfoPy, METH_VARARGS, "table_info(t) -> dict"},
    {"table_rows", TableRowsPy, METH_VARARGS, "table_rows(t, indices) -> table"},
    {"table_keep", TableKeepPy, METH_VARARGS, "table_keep(t, names) -> table"},
    {"featurize", FeaturizePy, METH_VARARGS,
     "featurize(t, featurization='auto') -> {state, X, names, raw_names, source}"},
    {"transform_table", TransformTablePy, METH_VARARGS, "transform_table(state, t) -> matrix"},
    {"set_table_featurizer", SetTableFeaturizerPy, METH_VARARGS,
     "set_table_featurizer(p, state): the model then predicts raw tables"},
    {"search_new", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(SearchNewPy)),
     METH_VARARGS | METH_KEYWORDS,
     "search_new(task, metric, allowed=None, blocked=None, scalers=None, featurization='auto', "
     "seed=0, budget_in_iterations=False, rows=0) -> search capsule"},
    {"search_next", SearchNextPy, METH_VARARGS,
     "search_next(s, seconds_left=None) -> {id, learner, params, scaler, label, "
     "expected_seconds} or None"},
    {"search_report", SearchReportPy, METH_VARARGS,
     "search_report(s, id, score, seconds, failed=False)"},
    {"search_state", SearchStatePy, METH_VARARGS, "search_state(s) -> {best, learners}"},
    {"search_space", SearchSpacePy, METH_VARARGS,
     "search_space(learner, task) -> {space, relative_cost, first_round, scale_sensitive, "
     "fixed_scaler}"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT,
                       "_engine",
                       "Trainyard's native AutoML engine (see docs/AUTOML.md).",
                       -1,
                       kMethods,
                       nullptr,
                       nullptr,
                       nullptr,
                       nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__engine(void) { return PyModule_Create(&kModule); }
