namespace QemuTestKit.Machines.Validation;

/// <summary>
/// Finds the valid names a mistyped one was probably meant to be: optimal-string-alignment (Damerau) distance,
/// ignoring case, within a limit that grows with the name's length, so that far-off names get no suggestion at all.
/// </summary>
public static class NearMiss
{
    public const int MaxSuggestions = 3;

    // Shorter than this, a name that starts a valid one ("e1" for "e1000") says too little to suggest from.
    private const int MinPrefixLength = 4;

    /// <summary>Up to three candidates closest to <paramref name="found"/>, closest first; empty when none is close.</summary>
    public static IReadOnlyList<string> Suggest(string found, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (string.IsNullOrWhiteSpace(found))
        {
            return [];
        }

        var limit = Limit(found);
        return candidates
            .Where(c => !string.Equals(c, found, StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .Select(c => (Name: c, Score: Score(found, c, limit)))
            .Where(c => c.Score <= limit)
            .OrderBy(c => c.Score)
            .ThenBy(c => c.Name.Length)
            .ThenBy(c => c.Name, StringComparer.Ordinal)
            .Take(MaxSuggestions)
            .Select(c => c.Name)
            .ToArray();
    }

    /// <summary>How many edits still count as a near miss: one for short names, a third of the length, at most three.</summary>
    public static int Limit(string found) => Math.Clamp((found?.Length ?? 0) / 3, 1, 3);

    /// <summary>Whether <paramref name="candidate"/> is within the near-miss limit of <paramref name="found"/>.</summary>
    public static bool IsClose(string found, string candidate) => Score(found, candidate, Limit(found)) <= Limit(found);

    // A name that is the start of a valid one ("virtio-rng" for "virtio-rng-pci") is as good as the weakest near miss.
    private static int Score(string found, string candidate, int limit)
    {
        var distance = Distance(found, candidate);
        return distance > limit && found.Length >= MinPrefixLength && candidate.StartsWith(found, StringComparison.OrdinalIgnoreCase)
            ? limit
            : distance;
    }

    /// <summary>Edits (insert, delete, substitute, swap two neighbours) between two names, ignoring case.</summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var x = a.ToLowerInvariant();
        var y = b.ToLowerInvariant();
        var d = new int[x.Length + 1, y.Length + 1];
        for (var i = 0; i <= x.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= y.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= x.Length; i++)
        {
            for (var j = 1; j <= y.Length; j++)
            {
                var cost = x[i - 1] == y[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[x.Length, y.Length];
    }
}
