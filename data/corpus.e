s43 s1 s8
s1 s3 s0
s1 s1 s53 s9 s0 s4 s5 s12 s7 s4
s2 s9 s70 s8 s45 s0 s1 s40 s8 s5 s2
s1 s15 s2 s4 s26 s61 s77 s5
s0 s0 s6 s0 s0 s1 s76 s0 s0 s52
s11 s21 s2 s57 s70 s8
s74 s6 s4 s27 s13 s0 s6 s0 s42 s7
s0 s58 s79 s21 s4 s10 s0
s0 s2 s3 s23 s0 s0
s17 s45 s43
s21 s73 s6 s25
s3 s2 s51 s4 s22 s6 s0 s0 s6 s18 s21 s2
s0 s7 s0 s2 s8 s3 s4
s0 s0 s36 s6 s45 s39 s0 s3 s7 s0 s0 s36
s33 s3 s18 s6 s22 s2
s5 s46 s31
s2 s44 s3 s16 s18
s3 s33 s5 s65 s58 s48
s50 s0 s13 s21 s7 s7 s1 s0 s26 s0
s20 s0 s3 s0 s14 s1 s5 s1 s6 s14
s0 s26 s26 s59 s3 s42 s0 s77 s1 s3
s0 s35 s5 s66 s0 s46
s2 s1 s14 s0 s7 s5
s0 s4 s2 s1 s56 s10 s0 s23
s3 s10 s3 s12 s16 s1 s34 s11 s10
s1 s1 s3 s0 s0 s14 s2
s19 s0 s21 s1
s41 s50 s16 s3 s0 s24 s8 s0 s9 s0
s4 s11 s29 s1 s1 s2 s0 s56
s44 s10 s0 s0 s56 s0 s0 s27 s1 s3 s3 s17
s5 s31 s6 s1 s0 s23 s1 s11 s10 s66 s0 s1
s14 s2 s0 s47 s20 s1 s0 s36 s9 s56 s6
s1 s0 s3 s16 s0 s3 s3 s15 s0 s43 s2 s33
s33 s44 s1 s35 s1 s3 s0 s5 s0
s64 s0 s6 s35 s0
s10 s7 s23 s17
s33 s28 s9 s2
s0 s0 s41 s1 s47 s2 s0 s1 s3 s0 s4 s29
s3 s6 s79 s1 s7
s75 s6 s10
s7 s0 s19
s51 s55 s9 s2 s15
s60 s71 s1 s57 s20 s42 s0 s71 s23 s0 s7 s0
s20 s10 s9 s37 s25
s0 s24 s7 s0
s2 s6 s39 s44 s0 s4 s36 s10 s38
s10 s1 s6
s6 s47 s2 s1 s22 s4 s5
s71 s15 s15
s57 s19 s63
s12 s9 s1 s1 s7 s0
s0 s18 s15
s0 s0 s11 s3 s9 s0 s40 s1 s3 s4 s10
s72 s1 s0 s0 s25 s3 s55 s0 s7
s23 s6 s3 s31 s6 s50 s1 s10 s12 s50 s0 s30
s16 s39 s11 s4 s28 s1 s0
s22 s31 s33 s4 s20 s18 s1 s24
s66 s2 s1 s9 s43 s11 s68 s54 s18
s18 s0 s2 s30 s3 s1 s0
s1 s9 s54 s3 s27 s0 s32 s55
s6 s4 s50 s1 s53 s52 s64 s46
s7 s16 s7 s1 s76 s0 s1 s55 s63 s1 s79
s31 s26 s9 s3 s0 s2
s3 s0 s0 s1 s6 s25 s9 s7 s28 s37 s4 s10
s53 s0 s11 s26
s4 s22 s35 s24
s7 s19 s18 s3 s0
s62 s5 s1 s1 s3 s9 s6 s3 s0 s72 s0 s53
s0 s6 s27 s14 s18
s0 s40 s13 s59 s78 s23 s30 s65 s19 s11
s7 s7 s12 s11 s0 s0 s3 s1
s15 s76 s1 s30 s3 s19 s0 s11 s6
s33 s0 s6
s40 s17 s0 s38 s1 s0 s0 s27 s35
s44 s23 s47
s55 s7 s12 s63 s6 s1 s58 s0
s9 s56 s22 s10 s5 s1 s8 s21 s8 s24
s67 s12 s18 s37 s8 s1 s28 s33 s72 s0 s6 s0
s6 s5 s1 s79 s21 s3 s28 s1 s1 s26 s17 s27
s3 s0 s4 s21 s37
s49 s77 s2 s35 s79 s1 s0 s0 s26 s29
s1 s59 s1 s20 s0 s23 s0 s10
s2 s14 s45 s2 s62 s4 s3 s1 s0 s0
s37 s0 s13 s11 s9 s5 s0 s0 s17 s46 s5
s3 s34 s0 s10 s69 s4 s1
s3 s9 s44 s20
s2 s3 s12 s12 s0 s9 s22 s0 s25 s0
s0 s8 s26 s11 s10 s0 s9 s6 s0
s24 s1 s5 s4
s15 s40 s26 s1 s1 s4 s2
s19 s8 s4 s10
s3 s39 s22 s28 s76 s16 s13 s24 s12 s63
s3 s3 s0 s60 s0 s51
s2 s76 s0
s1 s27 s3 s4 s0
s0 s39 s10 s27 s2 s5 s52 s49 s10
s16 s0 s2 s8 s4 s2 s17 s1
s51 s1 s19 s6 s20 s3 s2 s13 s66 s16 s0
s0 s1 s2 s0 s63 s1
s4 s0 s2 s7 s3 s0 s22 s68 s1
s1 s23 s4 s0 s0 s72 s19 s6 s0 s51 s3 s2
s27 s32 s0 s8 s2 s68
s2 s1 s14
s49 s13 s8 s0 s1 s29 s0 s59 s61
s12 s2 s54 s28 s21 s0 s11 s32 s1
s1 s4 s29 s0 s17 s9
s18 s0 s67 s0 s33 s0 s19 s2
s3 s43 s3 s7 s11 s0 s16 s61 s3
s36 s1 s7 s1 s1 s12 s0 s76 s17 s1 s10
s0 s14 s36 s30
s0 s0 s14 s1 s56 s9 s8
s23 s44 s5 s8 s0
s54 s47 s0 s2 s46 s9
s2 s2 s14
s16 s0 s4 s34 s34 s17 s30
s16 s35 s2
s0 s0 s10 s0 s36 s0 s31 s2 s0 s3 s0 s0
s0 s70 s4 s8 s0 s0 s10 s2
s1 s0 s23 s59 s2 s3 s1
s0 s2 s32 s0 s32
s0 s7 s24 s2 s43 s24 s13 s2 s0 s10 s1 s43
s43 s6 s16 s20 s2 s0 s4 s6
s17 s16 s0 s54 s1 s1 s0 s6 s54 s14 s5 s39
s62 s8 s28 s73 s0 s9 s16 s7 s2
s1 s45 s44 s0 s22 s17 s5 s3 s2 s19 s4 s15
s17 s72 s16 s0 s1 s9 s0 s4 s2 s0 s0
s0 s0 s58 s2 s58 s0 s10 s7 s12 s37
s3 s14 s1 s27 s7 s0
s1 s0 s22 s3 s7 s11 s3 s74 s23 s13
s0 s3 s3 s17 s0 s0
s28 s3 s1 s0 s0 s3 s5 s68 s14 s1 s16
s0 s22 s2 s15 s63 s75
s8 s0 s0
s1 s0 s1 s45
s2 s2 s34 s24 s2 s6 s8
s19 s0 s23 s0 s9 s60 s0 s25 s3
s1 s6 s0 s4 s9
s25 s31 s45 s5 s52 s47 s5 s0 s2 s22 s8
s0 s39 s13 s0 s32
s6 s2 s7 s7 s71 s16 s1
s3 s0 s2 s30 s3 s30
s2 s11 s0 s0 s3 s52 s18 s1
s1 s0 s13 s61
s13 s23 s3 s26 s5 s18 s1 s18 s1 s2 s1 s4
s1 s10 s13 s1 s25 s14 s64 s40 s61 s54 s50 s73
s64 s2 s0 s56 s2 s40 s78 s11 s1
s14 s36 s0 s43 s19 s54 s2 s51
s0 s20 s56 s8 s0 s65 s9 s1 s53 s33
s58 s13 s1 s10 s6 s6 s0
s1 s1 s0 s3 s4 s16 s6 s4 s0 s1 s2
s0 s1 s3
s1 s1 s26 s2 s3
s26 s24 s19 s9 s0 s39 s12
s59 s0 s0 s49 s2 s65 s23 s1 s12
s2 s32 s13 s20 s1 s0 s3 s19 s51 s2
s4 s44 s1 s16 s44 s12 s0 s13 s0 s1
s44 s18 s1 s16 s9 s30 s15 s33 s20 s0 s5 s0
s1 s1 s5 s2 s1 s39 s0 s5 s13 s0 s4
s2 s40 s0 s0 s5 s18 s42 s6 s67 s15 s63 s38
s47 s0 s43 s14 s0 s0
s0 s5 s0 s3 s0 s0 s0 s0 s48
s14 s12 s72 s8 s57 s13 s4 s17 s4
s0 s0 s54 s2 s35 s4 s0 s8 s0
s20 s3 s29 s0 s0 s0 s59 s1 s9
s3 s1 s0 s10 s5 s65 s34 s32
s0 s4 s0 s37 s1 s4 s1
s0 s65 s8 s4
s25 s5 s37 s30
s0 s5 s0
s3 s3 s29 s1 s9 s5
s33 s31 s0 s28 s0 s14
s0 s0 s58 s39 s4 s1 s1 s1 s2 s0 s2 s0
s0 s41 s15 s24 s16
s2 s14 s44 s55 s3
s44 s22 s1
s8 s1 s1 s6
s12 s0 s2 s3 s1 s19 s1 s10 s33
s55 s0 s1 s1 s2 s1
s17 s5 s0 s1 s1 s25 s0 s0 s12
s0 s17 s0 s12
s2 s0 s17 s0 s23 s49 s1 s5 s19 s1
s10 s0 s2 s1 s15
s11 s16 s43
s58 s0 s12 s2 s2 s33 s7 s4 s0 s21 s41 s14
s19 s0 s2 s5 s26 s0
s1 s62 s0 s20 s3 s43
s0 s21 s62
s17 s2 s67 s29 s15 s1 s23 s50
s12 s3 s72 s0 s2
s66 s11 s0 s8 s79
s56 s2 s1 s1 s1 s0 s2 s27 s7
s1 s35 s4 s0 s12 s0 s0 s26 s2
s11 s4 s77 s0
s74 s17 s78 s0
s1 s0 s75 s1 s1
s7 s44 s7 s0 s2 s12 s5 s1 s2 s4
s0 s11 s37 s0 s28
s3 s1 s9 s0 s2 s31 s4
s66 s1 s1 s7
s30 s28 s1 s0
s2 s3 s0 s0 s21 s2 s55 s7 s0
s19 s0 s3 s4 s0 s50 s1 s10 s1 s9
s38 s0 s4 s7 s0 s10 s79 s30 s6 s1 s0
s43 s21 s25 s5 s0 s9 s6 s0
s3 s13 s0 s1 s1
s21 s3 s13 s3 s4 s0 s4
s79 s22 s16 s30
s0 s29 s28 s14 s52
s0 s0 s54 s3 s60 s5 s4
s30 s5 s0 s4 s1 s49 s38 s0 s2 s31
s0 s0 s0 s56 s5
s0 s1 s0 s9 s1 s11
s71 s11 s1
s0 s1 s5
s1 s0 s28 s8 s20 s3 s1 s10
s3 s1 s38 s69 s27 s47 s10 s1 s36 s20 s0 s73
s59 s3 s4 s3 s6 s1 s0 s59
s15 s74 s17
s2 s29 s1 s79 s3 s3 s16 s2
s4 s2 s0 s9
s9 s2 s3 s0 s2 s21 s5 s0 s0
s5 s5 s5 s10 s2 s3 s2
s11 s0 s17 s29 s2 s0
s17 s12 s23 s0 s9
s3 s0 s12 s6
s30 s2 s3 s1 s5 s5
s0 s65 s32 s37 s5 s3 s19
s75 s23 s0 s29 s4 s0 s1 s49
s5 s22 s4 s0 s10 s1 s0 s16 s11
s1 s0 s31 s17 s0 s26 s3 s27 s39 s0 s5 s24
s64 s14 s13
s64 s0 s11 s18 s3 s9 s4 s0 s3 s0 s19 s46
s0 s46 s1 s0 s2 s4 s35 s9
s0 s1 s20
s5 s10 s0 s9 s2 s0 s3 s10 s9 s2 s4
s2 s5 s27 s12 s4 s0 s1 s23 s1 s17 s0
s0 s36 s13 s0 s50
s37 s8 s3 s1
s2 s17 s1 s23 s69 s20
s0 s1 s0 s9 s1 s2 s0 s12 s16 s8 s0
s17 s55 s49 s67 s42 s18 s0 s79 s1 s3 s59 s77
s2 s58 s0 s1 s0
s16 s0 s8 s4 s2 s20 s13
s2 s1 s34 s13 s73 s0 s67 s62 s53 s4
s27 s5 s32 s1
s24 s0 s1 s4 s0 s1 s19 s18 s35 s50
s1 s22 s0 s15 s0
s0 s35 s19 s1 s22 s2 s8 s25 s0 s2 s2
s15 s1 s11 s23
s1 s2 s0 s7 s6 s16 s7 s40 s36 s0 s10 s16
s5 s1 s0 s23 s0 s7 s77 s19 s0 s37
s14 s26 s1 s60 s15
s1 s2 s0 s0 s0 s0 s41 s11 s4 s6 s60
s3 s3 s0 s0 s0 s8 s8 s7 s21
s0 s9 s60 s10 s26 s6 s0
s74 s2 s0 s9 s0 s3 s7 s0 s45 s1
s9 s15 s3 s50 s26 s14 s9 s29 s0
s43 s2 s0
s2 s2 s79 s1 s2
s34 s30 s5 s42 s0 s19 s0 s0 s65
s75 s12 s4 s42 s3 s8 s0
s6 s0 s2 s1 s20 s13
s35 s46 s0 s76 s37 s2 s9 s0
s1 s2 s6 s0
s76 s49 s3 s32 s6 s1 s8 s0 s12 s36 s0 s0
s1 s0 s0 s23 s1 s22 s1 s4
s21 s51 s4
s2 s14 s1 s1 s0 s1 s8
s12 s57 s1 s22 s12 s61 s67 s5 s3 s35
s0 s21 s36 s46 s0 s11 s3 s0
s28 s3 s9 s2 s1 s29 s33 s0
s6 s0 s0 s0 s27 s27 s4 s0 s0
s0 s52 s2
s0 s55 s54 s4 s2 s1 s9
s1 s1 s56 s0 s0 s0 s0
s0 s53 s61 s72 s2 s70 s54 s2 s9 s12 s0 s25
s11 s2 s21 s4 s0 s4 s0 s3
s1 s0 s0 s0
s22 s41 s1 s3 s48 s2 s11 s19 s10 s75 s0
s0 s74 s8 s3 s59
s50 s44 s0 s3 s34 s4 s16 s32 s15 s1 s19 s60
s4 s2 s13 s1 s2 s3
s35 s22 s39 s0 s0 s51 s10 s61 s3 s1 s13
s1 s1 s3 s23 s7 s8 s5 s62 s78 s6
s7 s0 s24 s17 s0 s0 s0 s4 s8 s0
s62 s0 s0 s27 s13 s37 s50 s73 s10
s9 s0 s5
s1 s0 s11 s0 s12
s66 s3 s14 s0 s2 s0 s1 s0 s5 s26 s20
s73 s48 s18 s23 s9 s0 s24 s11 s57 s0
s56 s0 s0 s12 s2 s7 s3
s0 s39 s29 s1 s2 s24 s4 s17 s52 s35
s10 s27 s0 s36 s1 s4 s11 s2 s33
s10 s62 s1 s17 s0 s0 s6 s48 s5 s8
s62 s1 s36 s24 s14 s3 s40 s68
s3 s3 s21
s7 s1 s46 s15 s4 s3 s12
s2 s11 s0 s3 s30
s0 s17 s18 s21 s0 s33 s1 s0 s0 s10 s19
