// ipc/detail/type_name.hpp: one spelling of a type's name, the same under g++ and clang++.
//
// Shared memory is tagged with a hash of its element type's name, so a program
// built by g++ and one built by clang++ must spell the name alike. Both
// compilers print it in __PRETTY_FUNCTION__, differently:
//
//   g++ 12                                 clang++ 14                   canonical
//   long unsigned int, short int           unsigned long, short         unsigned long, short
//   const int* volatile, int [4]           const int *volatile, int[4]  const int*volatile, int[4]
//   pair<int, pair<int, int> >             pair<int, pair<int, int>>    pair<int,pair<int,int>>
//   {anonymous}::msg                       (anonymous namespace)::msg   (anonymous namespace)::msg
//   std::__cxx11::basic_string<char>       std::basic_string<char>      std::basic_string<char>
//   tpl<'\012', 5>, tpl<(color)7>          tpl<'\n', 5ULL>, tpl<7>      tpl<10,5>, tpl<7>
//
// canonical_type_name() rewrites either into the last column: spaces only
// between two words, integer types in one order, std's inline namespaces
// (__cxx11, libc++'s __1) dropped, character and integer template arguments
// as plain decimal numbers, a cast in front of a number dropped. What it does
// not reconcile (the compilers disagree and the text does not say how): a
// user's own inline namespaces (g++ prints them, clang++ does not), local
// classes and lambdas, pointer, nullptr and floating-point template
// arguments. Such types need ipc::ring::type_name specialised.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace ipc::detail {

template <class T>
constexpr const char* pretty_function() noexcept {
    return __PRETTY_FUNCTION__;  // "... [with T = X]" (g++) or "... [T = X]" (clang++)
}

// The X of pretty_function<T>(): the text between "T = " and the final ']'.
template <class T>
constexpr std::string_view compiler_type_name() noexcept {
    const std::string_view s = pretty_function<T>();
    const std::size_t open = s.find('[');
    const std::size_t at = s.find("T = ", open);
    if (open == std::string_view::npos || at == std::string_view::npos || s.back() != ']') return s;
    return s.substr(at + 4, s.size() - 1 - (at + 4));
}

constexpr bool is_word_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Output of the rewrite: at most N characters (the rest is dropped, which
// only happens for names far longer than their input allows, see below).
template <std::size_t N>
struct name_buffer {
    std::array<char, N> text{};
    std::size_t size = 0;

    constexpr char back() const noexcept { return size ? text[size - 1] : '\0'; }
    constexpr void put(char c) noexcept {
        if (size < N) text[size++] = c;
    }
    constexpr void put(std::string_view s) noexcept {
        for (char c : s) put(c);
    }
    // A word after a word needs its space back ("unsigned int", "const T").
    constexpr void put_word(std::string_view w) noexcept {
        if (is_word_char(back())) put(' ');
        put(w);
    }
    constexpr void put_number(unsigned long long v) noexcept {
        char digits[24] = {};
        int n = 0;
        do {
            digits[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v != 0);
        if (is_word_char(back())) put(' ');
        while (n > 0) put(digits[--n]);
    }
    // g++ writes an enumeration argument with no enumerator as "(E)7" (or
    // "(E)-1"), clang++ as "7": drop a parenthesised name right before a number.
    constexpr void drop_cast() noexcept {
        std::size_t end = size;
        if (end > 0 && text[end - 1] == '-') --end;
        if (end == 0 || text[end - 1] != ')') return;
        std::size_t open = end - 1;
        while (open > 0 && (is_word_char(text[open - 1]) || text[open - 1] == ':')) --open;
        if (open == 0 || open == end - 1 || text[open - 1] != '(') return;
        --open;
        const bool minus = end != size;
        size = open;
        if (minus) put('-');
    }
};

constexpr bool is_integer_word(std::string_view w) noexcept {
    return w == "signed" || w == "unsigned" || w == "short" || w == "long" || w == "int" || w == "char" || w == "double";
}

// "long unsigned int" (g++) and "unsigned long" (clang++) both become
// "unsigned long"; a run of these keywords is rewritten as one.
template <std::size_t N>
constexpr std::size_t put_integer_type(std::string_view in, std::size_t i, name_buffer<N>& out) noexcept {
    bool is_unsigned = false, is_signed = false, is_short = false, is_char = false, is_double = false;
    int longs = 0;
    for (;;) {
        std::size_t j = i;
        while (j < in.size() && in[j] == ' ') ++j;
        std::size_t e = j;
        while (e < in.size() && is_word_char(in[e])) ++e;
        const std::string_view w = in.substr(j, e - j);
        if (!is_integer_word(w)) break;
        is_unsigned |= w == "unsigned";
        is_signed |= w == "signed";
        is_short |= w == "short";
        is_char |= w == "char";
        is_double |= w == "double";
        longs += w == "long";
        i = e;
    }
    if (is_double) {
        out.put_word(longs ? "long double" : "double");
    } else if (is_char) {
        out.put_word(is_unsigned ? "unsigned char" : is_signed ? "signed char" : "char");
    } else {
        if (is_unsigned) out.put_word("unsigned");
        out.put_word(is_short ? "short" : longs == 1 ? "long" : longs > 1 ? "long long" : "int");
    }
    return i;
}

// A character literal ('a', '\n', '\012', '\x0a') as its value, 0..255.
constexpr std::size_t read_char_literal(std::string_view in, std::size_t i, unsigned long long& v) noexcept {
    v = 0;
    ++i;  // the opening quote
    if (i < in.size() && in[i] == '\\' && i + 1 < in.size()) {
        const char c = in[++i];
        if (c >= '0' && c <= '7') {
            for (int n = 0; n < 3 && i < in.size() && in[i] >= '0' && in[i] <= '7'; ++n) v = v * 8 + static_cast<unsigned>(in[i++] - '0');
        } else if (c == 'x') {
            for (++i; i < in.size() && in[i] != '\''; ++i) {
                const char h = in[i];
                v = v * 16 + static_cast<unsigned>(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
            }
        } else {
            constexpr std::string_view from = "ntrabfv0", to = "\n\t\r\a\b\f\v";
            const std::size_t k = from.find(c);
            v = k == std::string_view::npos ? static_cast<unsigned char>(c) : k < to.size() ? static_cast<unsigned char>(to[k]) : 0;
            ++i;
        }
    } else if (i < in.size()) {
        v = static_cast<unsigned char>(in[i++]);
    }
    while (i < in.size() && in[i] != '\'') ++i;
    return i + 1;
}

template <std::size_t N>
constexpr name_buffer<N> canonical_type_name(std::string_view in) noexcept {
    name_buffer<N> out;
    for (std::size_t i = 0; i < in.size();) {
        const char c = in[i];
        if (c == ' ') {
            ++i;
        } else if (is_digit(c)) {
            out.drop_cast();
            unsigned long long v = 0;
            const bool decimal = !(c == '0' && i + 1 < in.size() && (in[i + 1] == 'x' || in[i + 1] == 'X'));
            std::size_t e = i;
            while (e < in.size() && is_word_char(in[e])) ++e;
            if (decimal) {
                for (std::size_t k = i; k < e && is_digit(in[k]); ++k) v = v * 10 + static_cast<unsigned>(in[k] - '0');
                out.put_number(v);  // without a suffix: 5ULL (clang++) and 5 (g++) are one argument
            } else {
                out.put_word(in.substr(i, e - i));
            }
            i = e;
        } else if (c == '\'') {
            out.drop_cast();
            unsigned long long v = 0;
            i = read_char_literal(in, i, v);
            out.put_number(v & 0xff);  // g++ '\377' and clang++ '\xFF' are one char
        } else if (c == '{' && in.substr(i, 11) == "{anonymous}") {
            out.put("(anonymous namespace)");
            i += 11;
        } else if (is_word_char(c)) {
            std::size_t e = i;
            while (e < in.size() && is_word_char(in[e])) ++e;
            const std::string_view w = in.substr(i, e - i);
            if (is_integer_word(w)) {
                i = put_integer_type(in, i, out);
            } else if ((w == "__cxx11" || w == "__1") && in.substr(e, 2) == "::" && out.size >= 2 &&
                       out.text[out.size - 1] == ':' && out.text[out.size - 2] == ':') {
                i = e + 2;  // std::__cxx11::x and std::__1::x are std::x
            } else {
                out.put_word(w);
                i = e;
            }
        } else {
            out.put(c);
            ++i;
        }
    }
    return out;
}

// Room for the rewrite: it only grows "unsigned" alone to "unsigned int" and
// "{anonymous}" to "(anonymous namespace)", so twice the input is plenty.
template <class T>
struct canonical_name_of {
    static constexpr std::string_view raw = compiler_type_name<T>();
    static constexpr auto buffer = canonical_type_name<2 * raw.size() + 16>(raw);
    static constexpr std::string_view value{buffer.text.data(), buffer.size};
};

}  // namespace ipc::detail
