// Row helpers shared by the softmax-based kernels (softmax cross-entropy and the building
// blocks softmax / log_softmax / logsumexp): the row max, the shifted exponentials and their
// sum, in-place scaling. Callers shift by the max only when it is finite (see
// softmax_cross_entropy.inl for the infinite-row rules).

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real row_maximum(const Real* x, std::int64_t classes) {
    Real maximum = -__builtin_huge_valf();
    FUSEDLOSS_SIMD_MAX(maximum)
    for (std::int64_t j = 0; j < classes; ++j) maximum = x[j] > maximum ? x[j] : maximum;
    // The max reduction may drop NaN; the sum below brings it back into the row's result.
    return maximum;
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real sum_of_shifted_exp(const Real* x, Real shift, std::int64_t classes) {
    Real sum = 0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t j = 0; j < classes; ++j) sum += exp_value(x[j] - shift);
    return sum;
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real store_shifted_exp(const Real* x, Real shift, Real* out,
                                               std::int64_t classes) {
    Real sum = 0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t j = 0; j < classes; ++j) {
        const Real e = exp_value(x[j] - shift);
        out[j] = e;
        sum += e;
    }
    return sum;
}

// The same with x_j - shift <= 0 (or NaN) known, i.e. shift = the row's finite max.
template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real sum_of_shifted_exp_nonpositive(const Real* x, Real shift,
                                                            std::int64_t classes) {
    Real sum = 0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t j = 0; j < classes; ++j) sum += exp_nonpositive(x[j] - shift);
    return sum;
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real store_shifted_exp_nonpositive(const Real* x, Real shift, Real* out,
                                                           std::int64_t classes) {
    Real sum = 0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t j = 0; j < classes; ++j) {
        const Real e = exp_nonpositive(x[j] - shift);
        out[j] = e;
        sum += e;
    }
    return sum;
}

// The exp pass of a row: sum_j exp(x_j - shift), each term stored in `out` when store is set
// (out may be x: x_j is read before out_j is written). With shift the row's finite max,
// every x_j - shift is <= 0 (or NaN): the cheaper exp_nonpositive.
template <class Real, bool store>
FUSEDLOSS_ALWAYS_INLINE Real shifted_exp_pass(const Real* x, Real shift, bool shift_is_finite_max,
                                              Real* out, std::int64_t classes) {
    if (store) {
        return shift_is_finite_max ? store_shifted_exp_nonpositive(x, shift, out, classes)
                                   : store_shifted_exp(x, shift, out, classes);
    }
    return shift_is_finite_max ? sum_of_shifted_exp_nonpositive(x, shift, classes)
                               : sum_of_shifted_exp(x, shift, classes);
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE void scale_row(Real* row, Real factor, std::int64_t classes) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t j = 0; j < classes; ++j) row[j] *= factor;
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE void zero_row(Real* row, std::int64_t classes) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t j = 0; j < classes; ++j) row[j] = Real(0);
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
