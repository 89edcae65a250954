using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace QemuTestKit.Machines.Bundles;

/// <summary>
/// FastCDC chunk boundaries (gear rolling hash with normalized chunking). A cut depends only on the bytes just before
/// it, so a RAM page that moved by a few bytes between two snapshots is cut the same way in both and deduplicates;
/// fixed-size blocks would miss every shifted copy.
/// </summary>
internal sealed class ContentDefinedChunks
{
    /// <summary>The sizes the state pack uses (measured on recorded state images, see <see cref="StatePack"/>).</summary>
    public static readonly ContentDefinedChunks Default = new(minSize: 2 * 1024, averageSize: 8 * 1024, maxSize: 64 * 1024);

    // The gear table only has to be random-looking and fixed, so that packing the same image twice gives the same chunks.
    private static readonly ulong[] Gear = CreateGear();

    private readonly ulong _strictMask;
    private readonly ulong _looseMask;

    public ContentDefinedChunks(int minSize, int averageSize, int maxSize)
    {
        if (minSize < 64 || !BitOperations.IsPow2(averageSize) || averageSize <= minSize || maxSize <= averageSize)
        {
            throw new ArgumentException(FormattableString.Invariant($"chunk sizes {minSize}/{averageSize}/{maxSize} must grow, and the average must be a power of two"));
        }

        MinSize = minSize;
        AverageSize = averageSize;
        MaxSize = maxSize;

        // Normalized chunking (level 2): harder to cut before the average, easier after it, which narrows the size
        // spread around the average. The mask bits are the hash's top bits: those depend on the last 64 bytes, the low
        // ones only on the last few.
        var bits = BitOperations.Log2((uint)averageSize);
        _strictMask = ulong.MaxValue << (64 - (bits + 2));
        _looseMask = ulong.MaxValue << (64 - (bits - 2));
    }

    public int MinSize { get; }

    public int AverageSize { get; }

    public int MaxSize { get; }

    /// <summary>
    /// The length of the chunk that starts at <paramref name="data"/>[0]. <paramref name="data"/> must reach
    /// <see cref="MaxSize"/> bytes, or the end of the stream: a shorter span ends the chunk at its end.
    /// </summary>
    public int NextCut(ReadOnlySpan<byte> data)
    {
        if (data.Length <= MinSize)
        {
            return data.Length;
        }

        var end = Math.Min(data.Length, MaxSize);
        var middle = Math.Min(end, AverageSize);
        ref var bytes = ref MemoryMarshal.GetReference(data);
        ref var gear = ref MemoryMarshal.GetArrayDataReference(Gear);
        var hash = 0UL;
        var strict = _strictMask;
        var loose = _looseMask;
        var i = MinSize;
        for (; i < middle; i++)
        {
            hash = (hash << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref bytes, i));
            if ((hash & strict) == 0)
            {
                return i + 1;
            }
        }

        for (; i < end; i++)
        {
            hash = (hash << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref bytes, i));
            if ((hash & loose) == 0)
            {
                return i + 1;
            }
        }

        return end;
    }

    private static ulong[] CreateGear()
    {
        // SplitMix64 from a fixed seed.
        var table = new ulong[256];
        var state = 0x5153_544B_4344_4331UL;
        for (var i = 0; i < table.Length; i++)
        {
            state += 0x9E37_79B9_7F4A_7C15UL;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
            table[i] = z ^ (z >> 31);
        }

        return table;
    }
}
