/* test_zeroshot_templates.c — the loaders turn the asset formats into the
 * lm-eval 0.4 templates of EVAL.md. The expected strings below were written
 * out from the asset files with an independent Python implementation of the
 * lm-eval templates (doc_to_text / " " + choice, HellaSwag preprocess with
 * ctx_b capitalised by hand for items 0 and 1, WinoGrande partial scoring). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "zeroshot_tasks.h"

typedef struct {
    const char *task;
    int idx, n, gold;
    const char *ctx[2]; /* ctx[1] == NULL: every request shares ctx[0] */
    const char *cont[4];
    int len[4];
} zcase;

static const zcase cases[] = {
    {"arc_easy", 0, 4, 0,
     {"Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:"},
     {" Sunlight is the source of energy for nearly all ecosystems.", " Most ecosystems are found on land instead of in water.", " Carbon dioxide is more available than other gases.", " The producers in all ecosystems are plants."},
     {59, 54, 50, 43}},
    {"arc_easy", 1, 4, 1,
     {"Question: Which piece of safety equipment is used to keep mold spores from entering the respiratory system?\nAnswer:"},
     {" safety goggles", " breathing mask", " rubber gloves", " lead apron"},
     {14, 14, 13, 10}},
    {"arc_easy", 2375, 4, 0,
     {"Question: Which part of a sunflower plant absorbs water and nutrients?\nAnswer:"},
     {" Roots", " Stems", " Leaves", " Flowers"},
     {5, 5, 6, 7}},
    {"arc_challenge", 0, 4, 2,
     {"Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?\nAnswer:"},
     {" Planetary density will decrease.", " Planetary years will become longer.", " Planetary days will become shorter.", " Planetary gravity will become stronger."},
     {32, 35, 35, 39}},
    {"arc_challenge", 1, 4, 1,
     {"Question: A group of engineers wanted to know how different building designs would respond during an earthquake. They made several models of buildings and tested each for its ability to withstand earthquake conditions. Which will most likely result from testing different building designs?\nAnswer:"},
     {" buildings will be built faster", " buildings will be made safer", " building designs will look nicer", " building materials will be cheaper"},
     {30, 28, 32, 34}},
    {"arc_challenge", 1171, 4, 0,
     {"Question: A ball is thrown downward onto a concrete floor and bounces upward. What supplies the upward force that makes the ball bounce?\nAnswer:"},
     {" the floor", " the pull of gravity", " the air friction on the ball", " the person that throws the ball"},
     {9, 19, 28, 31}},
    {"boolq", 0, 2, 0,
     {"All biomass goes through at least some of these steps: it needs to be grown, collected, dried, fermented, distilled, and burned. All of these steps require resources and an infrastructure. The total amount of energy input into the process compared to the energy released by burning the resulting ethanol fuel is known as the energy balance (or ``energy returned on energy invested''). Figures compiled in a 2007 report by National Geographic Magazine point to modest results for corn ethanol produced in the US: one unit of fossil-fuel energy is required to create 1.3 energy units from the resulting ethanol. The energy balance for sugarcane ethanol produced in Brazil is more favorable, with one unit of fossil-fuel energy required to create 8 from the ethanol. Energy balance estimates are not easily produced, thus numerous such reports have been generated that are contradictory. For instance, a separate survey reports that production of ethanol from sugarcane, which requires a tropical climate to grow productively, returns from 8 to 9 units of energy for each unit expended, as compared to corn, which only returns about 1.34 units of fuel energy for each unit of energy expended. A 2006 University of California Berkeley study, after analyzing six separate studies, concluded that producing ethanol from corn uses much less petroleum than producing gasoline.\nQuestion: does ethanol take more energy make that produces?\nAnswer:"},
     {" no", " yes"},
     {2, 3}},
    {"boolq", 1, 2, 1,
     {"Property tax or 'house tax' is a local tax on buildings, along with appurtenant land. It is and imposed on the Possessor (not the custodian of property as per 1978, 44th amendment of constitution). It resembles the US-type wealth tax and differs from the excise-type UK rate. The tax power is vested in the states and is delegated to local bodies, specifying the valuation method, rate band, and collection procedures. The tax base is the annual rental value (ARV) or area-based rating. Owner-occupied and other properties not producing rent are assessed on cost and then converted into ARV by applying a percentage of cost, usually four percent. Vacant land is generally exempt. Central government properties are exempt. Instead a 'service charge' is permissible under executive order. Properties of foreign missions also enjoy tax exemption without requiring reciprocity. The tax is usually accompanied by service taxes, e.g., water tax, drainage tax, conservancy (sanitation) tax, lighting tax, all using the same tax base. The rate structure is flat on rural (panchayat) properties, but in the urban (municipal) areas it is mildly progressive with about 80% of assessments falling in the first two brackets.\nQuestion: is house tax and property tax are same?\nAnswer:"},
     {" no", " yes"},
     {2, 3}},
    {"boolq", 3269, 2, 0,
     {"In April 2017, it was announced that the series had been renewed for a third season of 20 episodes. The first half of ten episodes premiered on March 20, 2018. In June 2018, Freeform canceled the series after three seasons, but ordered two extra episodes to properly conclude the series' story; the second half of the third season is set to air in early 2019. As of May 15, 2018, 43 episodes of Shadowhunters have aired, concluding the first half of the third season.\nQuestion: will there be a season 5 of shadowhunters?\nAnswer:"},
     {" no", " yes"},
     {2, 3}},
    {"openbookqa", 0, 4, 1,
     {"A person wants to start saving money so that they can afford a nice vacation at the end of the year. After looking over their budget and expenses, they decide the best way to save money is to"},
     {" make more phone calls", " quit eating lunch out", " buy less with monopoly money", " have lunch with friends"},
     {21, 21, 28, 23}},
    {"openbookqa", 1, 4, 0,
     {"There is most likely going to be fog around:"},
     {" a marsh", " a tundra", " the plains", " a desert"},
     {7, 8, 10, 8}},
    {"openbookqa", 499, 4, 2,
     {"Some animals use a liquid coming from their skin to adjust to"},
     {" cold", " water", " heat", " humidity"},
     {4, 5, 4, 8}},
    {"copa", 0, 2, 1,
     {"The man turned on the faucet, therefore"},
     {" the toilet filled with water.", " water flowed from the spout."},
     {29, 28}},
    {"copa", 1, 2, 1,
     {"The girl found a bug in her cereal, therefore"},
     {" she poured milk in the bowl.", " she lost her appetite."},
     {28, 22}},
    {"copa", 99, 2, 1,
     {"The woman was in a bad mood, therefore"},
     {" she engaged in small talk with her friend.", " she told her friend to leave her alone."},
     {42, 39}},
    {"siqa2", 0, 2, 1,
     {"Context: Tracy didn't go home that evening and resisted Riley's attacks.\nQuestion: What does Tracy need to do before this?\nChoices:\nA. make a new plan\nB. Find somewhere to go\nAnswer:"},
     {" A", " B"},
     {1, 1}},
    {"siqa2", 1, 2, 0,
     {"Context: Sydney walked past a homeless woman asking for change but did not have any money they could give to her. Sydney felt bad afterwards.\nQuestion: How would you describe Sydney?\nChoices:\nA. sympathetic\nB. like a person who was unable to help\nAnswer:"},
     {" A", " B"},
     {1, 1}},
    {"siqa2", 1953, 2, 0,
     {"Context: Aubrey the officer pulled a driver over for speeding on the road.\nQuestion: Why did Aubrey do this?\nChoices:\nA. so people don't drive to fast\nB. look up the person's license plate number\nAnswer:"},
     {" A", " B"},
     {1, 1}},
    {"lambada_openai", 0, 1, 0,
     {"In my palm is a clear stone, and inside it is a small ivory statuette. A guardian angel.\n\n\"Figured if you're going to be out at night getting hit by cars, you might as well have some backup.\"\n\nI look at him, feeling stunned. Like this is some sort of sign. But as I stare at Harlin, his mouth curved in a confident grin, I don't care about"},
     {" signs"},
     {5}},
    {"lambada_openai", 1, 1, 0,
     {"Give me a minute to change and I'll meet you at the docks.\" She'd forced those words through her teeth.\n\n\"No need to change. We won't be that long.\"\n\nShane gripped her arm and started leading her to the dock.\n\n\"I can make it there on my own,"},
     {" Shane"},
     {5}},
    {"lambada_openai", 5152, 1, 0,
     {"“Yes, Grandmother, and don’t worry, I won’t forget my water when I go wander.”\nHer brothers laughed a little only because the comment was so cute. \n“Wonderful my little Wanderer, because I would hate to think of you forgetting an important rule like that.”\n“I would never forget the rules,"},
     {" Grandmother"},
     {11}},
    {"piqa", 0, 2, 0,
     {"Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:"},
     {" Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips, you will also need to supply it with a water bottle and a food dish.", " Provide the guinea pig with a cage full of a few inches of bedding made of ripped jeans material, you will also need to supply it with a water bottle and a food dish."},
     {164, 166}},
    {"piqa", 1, 2, 1,
     {"Question: dresser\nAnswer:"},
     {" replace drawer with bobby pin ", " finish, woodgrain with  bobby pin "},
     {30, 34}},
    {"piqa", 1837, 2, 0,
     {"Question: Where can I buy a tennis ball\nAnswer:"},
     {" You can purchase a tennis ball at any sports store", " You can purchase a tennis racket at any sports store"},
     {50, 52}},
    {"winogrande", 0, 2, 1,
     {"Sarah was a much better surgeon than Maria so Sarah", "Sarah was a much better surgeon than Maria so Maria"},
     {" always got the easier cases.", " always got the easier cases."},
     {28, 28}},
    {"winogrande", 2, 2, 1,
     {"They were worried the wine would ruin the bed and the blanket, but the blanket", "They were worried the wine would ruin the bed and the blanket, but the bed"},
     {" was't ruined.", " was't ruined."},
     {13, 13}},
    {"winogrande", 1266, 2, 1,
     {"She chose the black car over the green car, because the black car", "She chose the black car over the green car, because the green car"},
     {" has more brighter color.", " has more brighter color."},
     {24, 24}},
    {"hellaswag", 0, 4, 3,
     {"Roof shingle removal: A man is sitting on a roof. He"},
     {" is using wrap to wrap a pair of skis.", " is ripping level tiles off.", " is holding a rubik's cube.", " starts pulling up roofing on a roof."},
     {37, 27, 26, 36}},
    {"hellaswag", 1, 4, 3,
     {"Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. The lady"},
     {" swings and lands in her arms.", " pulls the barbell forward.", " pulls a rope attached to the barbell.", " stands and lifts the weight over her head."},
     {29, 26, 37, 42}},
    {"hellaswag", 10041, 4, 2,
     {"Family Life: How to tell if your teen is being abused. Pay attention to your teen dressing inappropriately. If you suspect that your teen is being beaten by someone in their life, you will want to pay close attention to their dress code. While all teens have different styles and preferences, be on the lookout for any clothing that is out of the norm for your child."},
     {" Try to figure out why they are dressing something that is frowned upon.. Understand why your child is acting different.", " Read the following as a rule for determining your teen's behaviour. You may notice your teen dressing in odd outfits that could indicate that they are on a date.", " For instance, your teen may try to hide the signs of abuse (e.g. scratches, burns, bruises, bite marks, broken bones, etc.", " Ask your teen if they have black tights (with stripper straps) or baggy jeans (without strippers straps). The more comfortably you can be around your teenager, the better."},
     {119, 161, 122, 171}},
    {"hellaswag", 3505, 4, 1,
     {"Family Life: How to entertain a toddler. Ask the toddler what he or she would like to do instead of doing what you would like to do.. Visit a site like to find loads of creative activities for toddlers and preschoolers.. Choose small, simple games like candy land or chutes and ladders."},
     {" Make sure you get a computer or tablet in case the toddler wants to do some general stuff. And maybe ask to go get a snack or an xbox or wii.", " Try some arts and crafts like washable paints, little foamies, crayons, and paper.. Watch the toddler's favorite movie, even if it's barney, and even if he or she has seen it 20 times before.", " Make sure the kid you are babysitting is old enough to handle various household chores or housework. Little kids will have a difficult time holding objects and will have precious time learning any new skill.", " If you discover that your toddler likes archery or fishing, create activities around these games as well. Alternatively, make small squares and place them around the toddler."},
     {141, 191, 207, 174}},
};

static const struct {
    const char *task;
    int n;
} counts[] = {{"piqa", 1838},      {"arc_easy", 2376},       {"arc_challenge", 1172}, {"hellaswag", 10042},
              {"winogrande", 1267}, {"boolq", 3270},          {"lambada_openai", 5153}, {"openbookqa", 500},
              {"copa", 100},        {"siqa2", 1954}};

static void check_case(const zcase *c, const ptq_zs_data *d) {
    CHECK(c->idx < d->n);
    if (c->idx >= d->n) return;
    const ptq_zs_item *it = &d->items[c->idx];
    CHECK(it->n == c->n);
    CHECK(it->gold == c->gold);
    if (it->n != c->n) return;
    for (int i = 0; i < c->n; i++) {
        const char *want = c->ctx[1] ? c->ctx[i] : c->ctx[0];
        if (strcmp(it->ctx[i], want)) {
            fprintf(stderr, "%s item %d ctx %d:\n got  [%s]\n want [%s]\n", c->task, c->idx, i, it->ctx[i], want);
            CHECK(0);
        }
        if (strcmp(it->cont[i], c->cont[i])) {
            fprintf(stderr, "%s item %d cont %d:\n got  [%s]\n want [%s]\n", c->task, c->idx, i, it->cont[i],
                    c->cont[i]);
            CHECK(0);
        }
        CHECK(it->choice_len[i] == c->len[i]);
    }
}

int main(void) {
    if (!tu_asset("datasets/zeroshot/llm-foundry/piqa.jsonl")) {
        printf("test_zeroshot_templates: assets not found, skipped\n");
        return 0;
    }
    /* every registered task loads with the expected item count */
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        const ptq_zs_task *t = ptq_zs_task_find(counts[k].task);
        CHECK(t != NULL);
        if (!t) continue;
        ptq_zs_data d;
        ptq_err err;
        int rc = ptq_zs_load(t, &d, &err);
        if (rc) fprintf(stderr, "%s: %s\n", counts[k].task, err.msg);
        CHECK(rc == 0);
        if (rc) continue;
        CHECK(d.n == counts[k].n);
        CHECK(strlen(d.sha256) == 64);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            if (!strcmp(cases[i].task, counts[k].task)) check_case(&cases[i], &d);
        ptq_zs_data_free(&d);
    }
    /* the standard siqa name is not registered (the asset is a 2-choice variant) */
    CHECK(ptq_zs_task_find("siqa") == NULL);
    /* lm-eval HellaSwag preprocess() on its own */
    char *p = ptq_zs_hellaswag_preprocess("  How to x [title] Do y [step] now.  Then  z [a] [b]  ");
    CHECK(p && !strcmp(p, "How to x. Do y now. Then z "));
    if (p && strcmp(p, "How to x. Do y now. Then z ")) fprintf(stderr, "preprocess: [%s]\n", p);
    free(p);
    /* acc_norm lengths are code points like Python len() */
    CHECK(ptq_utf8_len("caf\xc3\xa9") == 4);
    CHECK(ptq_utf8_len("\xe2\x80\x9cYes\xe2\x80\x9d") == 5);
    return tu_done("test_zeroshot_templates");
}
